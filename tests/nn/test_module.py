"""Module mechanics: registration, walking, modes, state dicts, devices, copying, printing, containers."""

import copy
from collections import OrderedDict

import numpy as np
import pytest

import xpgrad as xg
from xpgrad import nn
from xpgrad.nn.module import StateDictError


def ones(*shape):
    return xg.ones(shape, dtype=xg.float32)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(ones(3))
        self.register_buffer("count", xg.zeros((), dtype=xg.int64))
        self.register_buffer("scratch", xg.zeros((3,), dtype=xg.float32), persistent=False)
        self.inner = nn.Linear(3, 2)
        self.shift = nn.Parameter(xg.zeros((2,), dtype=xg.float32))

    def forward(self, x):
        return self.inner(x * self.scale) + self.shift


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.norm = nn.BatchNorm1d(2)
        self.head = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))

    def forward(self, x):
        return self.head(self.norm(self.first(x)))


# Each module's own parameters first, then its children's, as in PyTorch.
NET_PARAMS = ["first.scale", "first.shift", "first.inner.weight", "first.inner.bias", "norm.weight",
              "norm.bias", "head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"]
NET_STATE = ["first.scale", "first.shift", "first.count", "first.inner.weight", "first.inner.bias",
             "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var", "norm.num_batches_tracked",
             "head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"]


def _host(module):
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


# ------------------------------------------------------------------ registration

def test_named_parameters_follow_definition_order_with_nested_prefixes():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == NET_PARAMS
    assert [n for n, _ in net.first.named_parameters(prefix="x")] == \
        ["x.scale", "x.shift", "x.inner.weight", "x.inner.bias"]
    assert [n for n, _ in net.first.named_parameters(recurse=False)] == ["scale", "shift"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad and p.is_leaf for p in net.parameters())


def test_parameters_are_plain_attributes():
    b = Block()
    assert b.__dict__["scale"] is b._parameters["scale"]
    assert b.scale is b._parameters["scale"]


def test_buffers_persistent_and_not():
    b = Block()
    assert [n for n, _ in b.named_buffers()] == ["count", "scratch"]
    assert "scratch" not in b.state_dict() and "count" in b.state_dict()
    assert not any(t.requires_grad for t in b.buffers())


def test_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["first", "norm", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "first", "first.inner", "norm", "head", "head.0",
                                                  "head.1", "head.2"]
    assert len(list(net.modules())) == 8 and list(net.children())[1] is net.norm


def test_shared_parameter_counted_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_modules()] == ["", "0"]


def test_reassignment_rules():
    b = Block()
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'scale'"):
        b.scale = xg.ones((3,))
    b.scale = None
    assert "scale" in b._parameters and [n for n, _ in b.named_parameters(recurse=False)] == ["shift"]
    b.count = xg.ones((), dtype=xg.int64)  # a buffer takes a new tensor
    assert b._buffers["count"] is b.count
    with pytest.raises(TypeError, match="buffer 'count'"):
        b.count = 3
    b.inner = nn.Identity()  # replacing a child keeps its slot
    assert list(b._modules) == ["inner"] and isinstance(b.inner, nn.Identity)
    del b.shift
    assert "shift" not in b._parameters and not hasattr(b, "shift")
    b.plain = 3  # ordinary attributes stay ordinary
    assert b.plain == 3 and "plain" not in b._parameters


def test_parameter_before_init_is_refused():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(xg.ones((1,)))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Broken()


def test_register_names_are_checked():
    m = nn.Module()
    with pytest.raises(KeyError, match="without '.'"):
        m.register_buffer("a.b", xg.zeros((1,)))
    with pytest.raises(TypeError):
        m.register_parameter("w", xg.zeros((1,)))
    m.x = 1
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("x", xg.zeros((1,)))


def test_parameter_shares_data_and_prints():
    t = xg.asarray([1.0, 2.0])
    p = nn.Parameter(t)
    assert p.data is t.data and p.requires_grad and not t.requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    assert not nn.Parameter(xg.ones((2,)), requires_grad=False).requires_grad


def test_forward_missing():
    with pytest.raises(NotImplementedError, match="Module has no forward"):
        nn.Module()(1)


# ------------------------------------------------------------------ modes and gradients

def test_train_eval_propagate():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.head.train()
    assert net.head[1].training and not net.first.training
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad():
    lin = nn.Linear(3, 2)
    lin(ones(4, 3)).sum().backward()
    g = lin.weight.grad
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is g and not np.any(g.numpy())
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None
    lin.requires_grad_(False)
    assert not any(p.requires_grad for p in lin.parameters())
    assert not lin(ones(1, 3)).requires_grad
    lin.requires_grad_()
    assert lin(ones(1, 3)).requires_grad


def test_apply_visits_children_first():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "Block", "BatchNorm1d", "Linear", "ReLU", "Linear", "Sequential", "Net"]


def test_forward_hooks_and_removal():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape))
    y = lin(ones(1, 2))
    np.testing.assert_allclose(y.numpy(), lin.bias.numpy()[None])
    assert calls == [(1, 2)]
    h1.remove()
    h2.remove()
    assert lin._hooks is None
    assert not np.allclose(lin(ones(1, 2)).numpy(), lin.bias.numpy()[None])


# ------------------------------------------------------------------ state dicts

def test_state_dict_keys_and_detached():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == NET_STATE
    assert not any(v.requires_grad for v in sd.values())
    assert sd["norm.num_batches_tracked"].dtype == xg.int64
    kept = net.state_dict(keep_vars=True)
    assert kept["first.scale"] is net.first.scale


def test_state_dict_round_trip_keeps_parameter_objects():
    xg.manual_seed(1)
    src = Net()
    xg.manual_seed(2)
    dst = Net()
    params = list(dst.parameters())
    before = {k: v.numpy().copy() for k, v in src.state_dict().items()}
    res = dst.load_state_dict(src.state_dict())
    assert res == ([], []) and res.missing_keys == [] and res.unexpected_keys == []
    assert all(a is b for a, b in zip(params, dst.parameters()))
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])
    # Values are copied, not shared: training dst afterwards leaves src alone.
    with xg.no_grad():
        dst.first.scale += 1
    np.testing.assert_array_equal(src.first.scale.numpy(), before["first.scale"])
    fresh = Net()
    fresh.load_state_dict(src.state_dict())
    x = ones(4, 3)
    np.testing.assert_array_equal(fresh.eval()(x).numpy(), src.eval()(x).numpy())


def test_load_state_dict_casts_dtype_and_device():
    src = nn.Linear(3, 2, dtype=xg.float64)
    dst = nn.Linear(3, 2)
    dst.load_state_dict(src.state_dict())
    assert dst.weight.dtype == xg.float32
    np.testing.assert_allclose(dst.weight.numpy(), src.weight.numpy().astype(np.float32))
    # A NumPy array is a fine value too.
    dst.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.ones(2)})
    assert dst.weight.dtype == xg.float32 and dst.bias.tolist() == [1.0, 1.0]


def test_load_state_dict_reports_everything_at_once_and_changes_nothing():
    net = Net()
    before = _host(net)
    sd = {k: v.numpy() + 1 for k, v in net.state_dict().items()}
    del sd["head.2.bias"], sd["first.count"]
    sd["first.inner.weight"] = np.zeros((3, 3))
    sd["norm.running_var"] = np.zeros((5,))
    sd["norm.num_batches_tracked"] = np.asarray(1.5)  # a float cannot become the int64 counter
    sd["head.9.weight"] = np.zeros((1,))
    sd["extra"] = np.zeros((1,))
    with pytest.raises(StateDictError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    for key in ["head.2.bias", "first.count", "first.inner.weight", "norm.running_var",
                "norm.num_batches_tracked", "head.9.weight", "extra"]:
        assert repr(key) in msg, key
    assert "2 missing keys, 2 unexpected keys and 3 mismatched values" in msg
    assert "(3, 3) in the state dict, (2, 3) in the module" in msg
    assert isinstance(info.value, ValueError) and isinstance(info.value, xg.XpgradError)
    assert info.value.missing_keys == ["first.count", "head.2.bias"]
    assert info.value.unexpected_keys == ["head.9.weight", "extra"]
    assert [k for k, _ in info.value.mismatched] == ["first.inner.weight", "norm.running_var",
                                                     "norm.num_batches_tracked"]
    after = _host(net)
    assert list(after) == list(before)
    for k in before:
        assert after[k].tobytes() == before[k].tobytes(), k


def test_load_state_dict_strict_false():
    net = Net()
    sd = net.state_dict()
    partial = {k: v for k, v in sd.items() if not k.startswith("head.")}
    partial["surplus"] = xg.zeros((1,))
    other = Net()
    res = other.load_state_dict(partial, strict=False)
    assert res.missing_keys == ["head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"]
    assert res.unexpected_keys == ["surplus"]
    np.testing.assert_array_equal(other.first.inner.weight.numpy(), net.first.inner.weight.numpy())
    # Shapes are checked even when not strict.
    partial["first.scale"] = xg.zeros((4,))
    with pytest.raises(StateDictError, match="first.scale"):
        other.load_state_dict(partial, strict=False)


def test_load_state_dict_rejects_non_mapping():
    with pytest.raises(TypeError, match="mapping"):
        nn.Linear(1, 1).load_state_dict([1, 2])


# ------------------------------------------------------------------ devices and dtypes

@pytest.fixture
def opencl():
    try:
        xg.get_backend("opencl:0")
    except xg.XpgradError as exc:
        pytest.skip(f"opencl:0 is not usable here: {exc}")
    return "opencl:0"


def test_to_device_round_trip_keeps_parameter_identity(opencl):
    net = Net()
    net(ones(4, 3)).sum().backward()
    params = list(net.parameters())
    bufs = list(net.buffers())
    before = _host(net)
    grad = net.first.scale.grad.numpy().copy()
    assert net.to_device(opencl) is net
    assert all(p.device == opencl for p in net.parameters())
    assert all(b.device == opencl for b in net.buffers())
    assert net.first.scale.grad.device == opencl
    assert all(a is b for a, b in zip(params, net.parameters()))
    out = net.eval()(xg.ones((4, 3), dtype=xg.float32, device=opencl))
    assert out.device == opencl
    net.to("cpu")
    assert all(a is b for a, b in zip(params, net.parameters()))
    assert all(a is b for a, b in zip(bufs, net.buffers()))
    for k, v in _host(net).items():
        np.testing.assert_array_equal(v, before[k])
    np.testing.assert_array_equal(net.first.scale.grad.numpy(), grad)
    np.testing.assert_allclose(net(ones(4, 3)).numpy(), out.numpy(), rtol=1e-5, atol=1e-6)


def test_to_dtype_casts_floating_tensors_only():
    net = Net()
    p = net.first.scale
    assert net.double() is net
    assert all(t.dtype == xg.float64 for t in net.parameters())
    assert net.norm.running_mean.dtype == xg.float64
    assert net.norm.num_batches_tracked.dtype == xg.int64 and net.first.count.dtype == xg.int64
    assert net.first.scale is p
    net.to(dtype=xg.float32)
    assert p.dtype == xg.float32
    net.to(xg.float64)
    assert p.dtype == xg.float64
    net.float()
    assert p.dtype == xg.float32


def test_parameters_keep_training_after_a_move(opencl):
    lin = nn.Linear(3, 1)
    w = lin.weight
    lin.to_device(opencl)
    lin(xg.ones((2, 3), dtype=xg.float32, device=opencl)).sum().backward()
    assert w.grad is not None and w.grad.device == opencl
    np.testing.assert_allclose(w.grad.numpy(), np.full((1, 3), 2.0))
    # A cpu state dict loads into the opencl:0 model: values cross over, the objects stay.
    src = nn.Linear(3, 1, dtype=xg.float64)
    lin.load_state_dict(src.state_dict())
    assert lin.weight is w and w.device == opencl and w.dtype == xg.float32
    np.testing.assert_allclose(w.numpy(), src.weight.numpy(), rtol=1e-6)


# ------------------------------------------------------------------ copying, functional calls, printing

def test_deepcopy_copies_tensors():
    net = Net()
    twin = copy.deepcopy(net)
    assert twin.first.scale is not net.first.scale
    assert isinstance(twin.first.scale, nn.Parameter) and twin.first.scale.requires_grad
    with xg.no_grad():
        twin.first.scale += 1
    assert net.first.scale.tolist() == [1.0, 1.0, 1.0]
    assert [n for n, _ in twin.named_parameters()] == NET_PARAMS


def test_functional_call_substitutes_and_restores():
    lin = nn.Linear(2, 1)
    w = lin.weight
    out = nn.functional_call(lin, {"weight": xg.asarray([[1.0, 1.0]]), "bias": xg.zeros((1,))},
                             (xg.asarray([[2.0, 3.0]]),))
    assert out.tolist() == [[5.0]]
    assert lin.weight is w
    with pytest.raises(KeyError, match="no parameter or buffer 'nope'"):
        nn.functional_call(lin, {"nope": xg.zeros((1,))}, (ones(1, 2),))
    assert lin.weight is w


def test_repr_is_nested_like_pytorch():
    net = Net()
    assert repr(net) == (
        "Net(\n"
        "  (first): Block(\n"
        "    (inner): Linear(in_features=3, out_features=2, bias=True)\n"
        "  )\n"
        "  (norm): BatchNorm1d(2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (head): Sequential(\n"
        "    (0): Linear(in_features=2, out_features=4, bias=True)\n"
        "    (1): ReLU()\n"
        "    (2): Linear(in_features=4, out_features=1, bias=True)\n"
        "  )\n"
        ")")
    assert repr(nn.Conv2d(3, 16, 3, padding=1, bias=False)) == \
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"
    assert repr(nn.Dropout(0.2)) == "Dropout(p=0.2, inplace=False)"


# ------------------------------------------------------------------ containers

def test_sequential_indexing_slicing_and_append():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and list(seq) == [a, b] and seq[0] is a and seq[-1] is b
    seq.append(c)
    assert seq[2] is c and [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                                      "2.bias"]
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    x = ones(4, 2)
    np.testing.assert_allclose(seq(x).numpy(), c(b(a(x))).numpy())
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    del seq[1]
    assert list(seq) == [a, c] and list(seq._modules) == ["0", "1"]


def test_sequential_from_ordered_dict_keeps_names():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in seq.named_parameters()] == ["fc.weight", "fc.bias"]
    assert seq.fc is seq[0] and isinstance(seq[1], nn.Tanh)
    assert [n for n, _ in seq[1:].named_children()] == ["act"]


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.insert(0, nn.Identity())
    assert isinstance(layers[0], nn.Identity) and isinstance(layers[4], nn.ReLU)
    assert [n for n, _ in layers.named_parameters()][0] == "1.weight"
    heads = nn.ModuleDict({"cls": nn.Linear(4, 3)})
    heads["box"] = nn.Linear(4, 4)
    assert list(heads.keys()) == ["cls", "box"] and "box" in heads and len(heads) == 2
    assert [n for n, _ in heads.named_parameters()] == ["cls.weight", "cls.bias", "box.weight", "box.bias"]
    assert heads.pop("cls") is not None and list(heads) == ["box"]


# ------------------------------------------------------------------ utils

def test_parameters_to_vector_and_back():
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    np.testing.assert_array_equal(vec.numpy()[:6], lin.weight.numpy().ravel())
    w = lin.weight
    nn.utils.vector_to_parameters(xg.arange(8, dtype=xg.float32), lin.parameters())
    assert lin.weight is w and lin.weight.tolist() == [[0, 1, 2], [3, 4, 5]] and lin.bias.tolist() == [6, 7]
    with pytest.raises(xg.ShapeError, match="8 elements"):
        nn.utils.vector_to_parameters(xg.zeros((7,)), lin.parameters())


def test_to_refuses_a_non_floating_dtype_and_a_refused_batch_is_not_counted():
    m = nn.Linear(3, 2)
    with pytest.raises(xg.DTypeError, match="not a floating-point dtype"):
        m.to(xg.int64)
    assert m.weight.dtype == xg.float32
    bn = nn.BatchNorm1d(3)
    with pytest.raises(xg.ShapeError):
        bn(xg.ones((1, 3), dtype=xg.float32))      # one value per channel: no batch statistics
    assert int(bn.num_batches_tracked) == 0
    bn(xg.ones((2, 3), dtype=xg.float32))
    assert int(bn.num_batches_tracked) == 1
