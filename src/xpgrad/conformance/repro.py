"""Reproduction snippets: runnable Python for the first failing case of a check.

Each snippet rebuilds the failing case's inputs with :func:`xpgrad.conformance.cases.inputs`
(same seed, same values), runs the op the way the check did, and asserts what
the check asserted, so a vendor can paste it into a shell or a bug report.
Ops and kernels registered at run time (not through an installed plugin) must be
registered again before the snippet runs.
"""

from __future__ import annotations

from typing import Any

from .tolerances import FD_EPS, tolerance

__all__ = ["forward", "gradient", "backward", "nondiff", "residency", "kernel", "cost", "profile", "rerun"]

_HEAD = "import numpy as np\nimport xpgrad as xg\nfrom xpgrad.conformance import cases\n"


def _title(ctx: Any, op: str, check: str, what: str) -> str:
    return f"# xpgrad conformance: {op} / {check} on {ctx.device}: {what}\n"


def _inputs(ctx: Any, case: Any, device: str | None = None) -> str:
    return (f"args, params = cases.inputs({case.op!r}, {case.sample}, {case.dtype!r}, {case.variant!r}, "
            f"device={device or ctx.device!r}, seed={ctx.seed})\n")


def _tail(ctx: Any, op: str, check: str) -> str:
    return (f"# the whole check again: xpgrad.conformance.run({ctx.device!r}, ops=[{op!r}], "
            f"checks=[{check!r}], seed={ctx.seed}).results[{op!r}][{check!r}]\n")


def forward(ctx: Any, case: Any, check: str) -> str:
    """Device result against the float64 CPU reference (values and dtypes)."""
    return (_title(ctx, case.op, check, case.describe()) + _HEAD
            + "from xpgrad.conformance.tolerances import assert_close\n" + _inputs(ctx, case)
            + f"got = cases.outputs(xg.get_op({case.op!r})(*args, **params))\n"
            f"expected = cases.reference({case.op!r}, {case.sample}, {case.dtype!r}, {case.variant!r}, "
            f"seed={ctx.seed})  # generic forward, float64, CPU\n"
            f"dtypes = [e.dtype for e in cases.reference({case.op!r}, {case.sample}, {case.dtype!r}, "
            f"{case.variant!r}, seed={ctx.seed}, in_dtype=True)]\n"
            "print('result dtypes', [g.dtype for g in got], 'expected', dtypes)\n"
            "for g, e, d in zip(got, expected, dtypes):\n"
            "    assert g.dtype == d, (g.dtype, d)\n"
            f"    assert_close(g, e, d.name, {case.op!r})  # the bound of the tolerance table\n"
            + _tail(ctx, case.op, check))


def gradient(ctx: Any, case: Any, check: str, label: str | None = None) -> str:
    """Derivative checks with :func:`xpgrad.testing.check_grads` on the device (in float64)."""
    kind = check + ("" if ctx.f64 else "-float32")
    rtol, atol, _ = tolerance(kind, case.op)
    if check == "order2":
        call = (f"check_grads(f, args, order=2, modes=('fwd', 'rev'), eps={FD_EPS!r}, rtol={rtol / 10!r}, "
                f"atol={atol / 10!r})  # {label or 'second order'}; order 2 uses 10x these bounds\n")
    else:
        mode = "fwd" if check == "jvp" else "rev"
        call = (f"check_grads(f, args, order=1, modes=({mode!r},), eps={FD_EPS!r}, rtol={rtol!r}, "
                f"atol={atol!r})\n")
    note = "" if ctx.f64 else (f"# {ctx.device} has no float64: the suite compared float32 AD with float64 "
                               "central differences on the CPU; check_grads needs float64\n")
    return (_title(ctx, case.op, check, case.describe() + (f", {label}" if label else "")) + note
            + "import xpgrad as xg\nfrom xpgrad.conformance import cases\n"
              "from xpgrad.testing import check_grads\n"
            + _inputs(ctx, case)
            + f"f = lambda *xs: xg.get_op({case.op!r})(*xs, **params)\n" + call + _tail(ctx, case.op, check))


def backward(ctx: Any, case: Any, check: str) -> str:
    return (_title(ctx, case.op, check, case.describe() + ", backward") + _HEAD
            + "from xpgrad.conformance.residency import counter_for\n" + _inputs(ctx, case)
            + "xs = [a for a in args if isinstance(a, xg.Tensor) and xg.isdtype(a.dtype, 'real floating')]\n"
              "for a in xs:\n    a.requires_grad = True\n"
              f"counter = counter_for(xg.get_backend({ctx.device!r}))\n"
              "before = counter.reads() if counter else None\n"
              f"out = xg.get_op({case.op!r})(*args, **params)\n"
              "outs = out if isinstance(out, tuple) else (out,)\n"
              "sum(xg.sum(o) for o in outs).backward()\n"
              "print('device-to-host reads:', counter.reads() - before if counter else 'not counted')\n"
              "for a in xs:\n"
              "    g = a.grad\n"
              "    print('input', a.dtype, a.device, '-> gradient', g.dtype, g.device, type(g.data))\n"
            + _tail(ctx, case.op, check))


def nondiff(ctx: Any, case: Any) -> str:
    return (_title(ctx, case.op, "nondiff", case.describe()) + _HEAD + _inputs(ctx, case)
            + "for a in args:\n"
              "    if isinstance(a, xg.Tensor) and xg.isdtype(a.dtype, 'real floating'):\n"
              "        a.requires_grad = True\n"
              f"out = xg.get_op({case.op!r})(*args, **params)\n"
              "assert not out.requires_grad\n"
              "try:\n    xg.sum(xg.astype(out, xg.float32)).backward()\n"
              "except xg.XpgradError as exc:\n    print('raised, as it should:', exc)\n"
              "else:\n    raise AssertionError('a gradient through a non-differentiable op did not raise')\n"
            + _tail(ctx, case.op, "nondiff"))


def residency(ctx: Any, case: Any) -> str:
    return (_title(ctx, case.op, "residency", case.describe()) + _HEAD
            + "from xpgrad.conformance.residency import counter_for\n" + _inputs(ctx, case)
            + f"b = xg.get_backend({ctx.device!r})\ncounter = counter_for(b)\n"
              "before = counter.snapshot() if counter else None\n"
              "try:\n"
              f"    y = xg.get_op({case.op!r})(*args, **params)\n"
              "except Exception as exc:  # a backend may refuse a kernel's host result outright\n"
              "    print('the op raised', type(exc).__name__, exc)\n"
              "else:\n"
              "    print('device-to-host reads, host fallbacks:',\n"
              "          counter.since(before) if counter else 'not counted')\n"
              "    print('result on', y.device, 'as', type(y.data).__name__, '; owned by the device:',\n"
              "          b.owns(y.data))\n"
              f"kernel = xg.get_op({case.op!r}).kernels.get(b)  # the kernel that runs, called directly\n"
              "if kernel is not None:\n"
              "    raw = [a.data if isinstance(a, xg.Tensor) else a for a in args]\n"
              "    r = kernel(b.xp, *raw, **params)\n"
              "    print('the kernel returned', type(r).__module__, type(r).__name__,\n"
              "          'expected one of', b.array_types)\n"
            + _tail(ctx, case.op, "residency"))


def kernel(ctx: Any, case: Any, k: Any) -> str:
    return (_title(ctx, case.op, "kernels", f"kernel {k.name!r}, {case.describe()}") + _HEAD
            + "from xpgrad.conformance.kernels import family_kernels\n"
              "from xpgrad.conformance.tolerances import assert_close\n" + _inputs(ctx, case)
            + f"b = xg.get_backend({ctx.device!r})\nop = xg.get_op({case.op!r})\n"
              f"kernel = [k for k in family_kernels({ctx.family!r}, {case.op!r})\n"
              f"          if k.name == {k.name!r}][0]\n"
              "raw = [a.data if isinstance(a, xg.Tensor) else a for a in args]\n"
              "got = kernel.forward(b.xp, *raw, **params)\n"
              "generic = op.forward(b.xp, *raw, **params)  # the op's own rule, same namespace\n"
              "print('kernel result:', type(got).__name__, 'on', getattr(got, 'device', '?'),\n"
              "      'expected one of', b.array_types)\n"
              "g, e = np.asarray(b.to_host(got)), np.asarray(b.to_host(generic))\n"
              f"assert_close(g, e, e.dtype.name, {case.op!r})  # the bound of the tolerance table\n"
            + _tail(ctx, case.op, "kernels"))


def cost(ctx: Any, op: str, sample: int, k: Any) -> str:
    return (_title(ctx, op, "cost", f"kernel {k.name!r}, sample {sample} scaled up") + _HEAD
            + "from xpgrad.conformance.kernels import family_kernels, Signature\n"
              "from xpgrad.conformance.cases import scale_shape, spec_shapes\n"
            + f"b = xg.get_backend({ctx.device!r})\nop = xg.get_op({op!r})\n"
              f"kernel = [k for k in family_kernels({ctx.family!r}, {op!r}) if k.name == {k.name!r}][0]\n"
              f"sample = op.all_samples()[{sample}]\nshapes = spec_shapes(sample)\n"
              "for scale in (1, 2, 4, 8, 16):\n"
              "    sig = Signature([scale_shape(s, scale) for s in shapes],\n"
              "                    [np.dtype('float32')] * len(shapes), dict(sample.params), op.name,\n"
              "                    b.device)\n"
              "    if kernel.supports is None or kernel.supports(sig):\n"
              "        # positive, finite, non-decreasing\n"
              "        print(scale, sig.shapes, kernel.cost(sig, b.profile))\n"
            + _tail(ctx, op, "cost"))


def profile(ctx: Any) -> str:
    return (f"# xpgrad conformance: the device profile of {ctx.device}\n"
            "import xpgrad as xg\nfrom xpgrad.conformance.kernels import profile_problems\n"
            f"p = xg.get_backend({ctx.device!r}).profile\n"
            f"print(p)\nprint(profile_problems(p, has_float64={ctx.f64!r}))\n")


def rerun(ctx: Any, op: str, check: str) -> str:
    return (f"# xpgrad conformance: {op} / {check} on {ctx.device}\n"
            "from xpgrad.conformance import run\n"
            f"report = run({ctx.device!r}, ops=[{op!r}], checks=[{check!r}], seed={ctx.seed})\n"
            f"r = report.results[{op!r}][{check!r}]\n"
            "print(r.status, r.message)\nprint(*r.failures, sep='\\n')\n")
