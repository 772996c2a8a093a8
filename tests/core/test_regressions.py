"""Bugs found in review, each pinned by the number a person can check."""

import gc
import subprocess
import sys
import threading
import weakref

import numpy as np
import pytest

import xpgrad as xg


def test_pow_gradient_at_zero_to_the_zero_is_zero():
    x = xg.asarray([0.0, 1.0], requires_grad=True)
    xg.sum(x ** 0.0).backward()
    assert x.grad.tolist() == [0.0, 0.0]
    assert float(xg.grad(xg.grad(lambda t: t ** 1.0))(0.0)) == 0.0  # d²/dx² x at 0
    assert float(xg.grad(xg.grad(lambda t: t ** 3.0))(2.0)) == 12.0


def test_pow_gradient_with_array_exponent_zero():
    x = xg.asarray([0.0, 2.0], requires_grad=True)
    y = xg.asarray([0.0, 2.0])
    xg.sum(x ** y).backward()
    assert x.grad.tolist() == [0.0, 4.0]


def test_in_place_refuses_to_truncate_dtype():
    a = xg.asarray([1, 2, 3])
    with pytest.raises(TypeError, match="keep the left operand's dtype"):
        a += 1.5
    assert a.tolist() == [1, 2, 3]


def test_shared_no_grad_instance_restores_each_threads_own_mode():
    shared = xg.no_grad()
    entered, release = threading.Event(), threading.Event()
    seen = {}

    def first():
        with shared:
            entered.set()
            release.wait()
        seen["first"] = xg.is_grad_enabled()

    def second():
        entered.wait()
        with shared:
            release.set()
        seen["second"] = xg.is_grad_enabled()

    ts = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert seen == {"first": True, "second": True}


def test_transforms_leave_no_reference_cycles_holding_arrays():
    x = xg.asarray(np.ones(1000))
    gc.collect()
    gc.disable()
    try:
        refs = []
        for _ in range(3):
            g = xg.grad(lambda v: xg.sum(v * v))(x)
            refs.append(weakref.ref(g.data))
            del g
        assert all(r() is None for r in refs), "a transform's result was kept alive by a cycle"
    finally:
        gc.enable()


@pytest.mark.parametrize("call,cls", [
    (lambda: xg.asarray([[1, 2], [3]]), ValueError),
    (lambda: xg.zeros((-1,)), ValueError),
    (lambda: xg.arange(0, 10, 0), ValueError),
    (lambda: xg.ones(3) * "a", TypeError),
])
def test_bad_creation_and_operands_raise_xpgrad_errors(call, cls):
    with pytest.raises(cls) as info:
        call()
    assert isinstance(info.value, xg.XpgradError)


def test_advanced_indexing_is_a_copy_not_a_view():
    x = xg.asarray([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 1.0
    _ = h[[0, 1]]          # a copy: in-place on h afterwards is fine
    h += 1.0
    xg.sum(h).backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]
    h2 = x * 1.0
    _ = h2[0:2]            # a view: recorded in-place on h2 would miss it
    with pytest.raises(xg.InplaceError):
        h2 += 1.0


def test_concurrent_first_use_of_a_device_family_loads_once():
    code = (
        "import threading, xpgrad as xg\n"
        "errors = []\n"
        "def use():\n"
        "    try: xg.ones(2, device='fpga:0')\n"
        "    except Exception as e: errors.append(e)\n"
        "ts = [threading.Thread(target=use) for _ in range(4)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n"
        "print(len(errors))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
