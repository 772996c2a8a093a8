"""The checks: one function per column of the report, each over every case that applies to an op.

Every check returns a :class:`CheckResult`. Statuses:

``pass``      every case that applies ran and agreed
``fail``      a case disagreed, raised, or left the device
``n/a``       no case applies to this op (the message says why)
``untested``  the op declares no samples: nothing can be checked, and nothing is passed
``xfail``     failed, and the known-failures file lists it (the reason is shown)
``xpass``     passed, but the known-failures file lists it: remove the entry
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
import math
import time
import traceback
import warnings
import zlib
from typing import Any

import numpy as np

from . import cases as C
from . import repro
from .kernels import (KernelInfo, Signature, cost_model_choice, cost_problems, family_kernels,
                      profile_problems, running_kernel, signature_of, declines)
from .residency import counter_for
from .tolerances import FD_EPS, bound, tolerance

__all__ = ["CHECKS", "DEVICE_CHECKS", "CHECK_DOCS", "CheckResult", "Context", "check_op", "check_device",
           "PASS", "FAIL", "NA", "UNTESTED", "XFAIL", "XPASS"]

PASS, FAIL, NA, UNTESTED, XFAIL, XPASS = "pass", "fail", "n/a", "untested", "xfail", "xpass"

#: The columns of the report, in order, with what each checks.
CHECK_DOCS: dict[str, str] = {
    "forward32": "float32 results of every sample against the float64 CPU reference (generic forward)",
    "forward64": "float64 results of every sample against the float64 CPU reference",
    "dtypes": "result dtypes as on the CPU; float32 op Python float stays float32, float32 with float64 "
              "gives float64; gradients in the input's dtype",
    "broadcast": "broadcasting ops on inputs of other ranks and size-1 axes",
    "edge": "0-d and empty inputs (elementwise and reduction ops)",
    "layout": "non-contiguous inputs: transposed views and strided slices of device arrays",
    "jvp": "JVP against central differences (float64 on the device when it has float64)",
    "vjp": "VJP against the JVP by random inner products <u, J v> = <J^T u, v>",
    "order2": "second order: forward-over-reverse, reverse-over-reverse (gradient of gradient), "
              "forward-over-forward and reverse-over-forward",
    "nondiff": "an op declared not differentiable gives results that do not require grad; backward() "
               "through it raises (the functional transforms see a constant: zero gradients)",
    "kernels": "every kernel of the family for the op against the op's generic forward on the same device",
    "residency": "results (and gradients) on the device, in its array type, with no device-to-host read",
    "cost": "kernel cost functions: positive, finite, non-decreasing with size",
}
CHECKS: tuple[str, ...] = tuple(CHECK_DOCS)
DEVICE_CHECKS: dict[str, str] = {
    "claims": "the floating dtypes the namespace claims (__array_namespace_info__) work: float32 always, "
              "float64 when claimed",
    "profile": "the device profile the cost model reads: positive, finite figures",
}

MAX_FAILURE_LINES = 8
MAX_KERNEL_ELEMENTS = 1 << 16     # scaled-up kernel cases: at most this many elements per array
KERNEL_SCALES = (4, 16)           # scaled-up shapes on which every kernel is run
COST_SCALES = (1, 2, 4, 8, 16)    # sizes along which cost functions must not decrease...
COST_REFERENCE_ELEMENTS = 1 << 18  # ...among those the CPU reference accepts, arrays up to this size
EDGE_SAMPLES = 2                  # samples of an op turned into 0-d and empty variants
LAYOUT_SAMPLES = 3                # samples of an op given as non-contiguous views


@dataclass
class CheckResult:
    """The outcome of one check of one op on one device."""

    op: str
    check: str
    status: str = PASS
    cases: int = 0                       # cases that ran
    worst: float | None = None           # worst error as a fraction of its tolerance (1 = at tolerance)
    max_abs: float | None = None         # worst absolute error
    message: str = ""                    # why it failed, why it does not apply, or a note
    failures: list[str] = field(default_factory=list)  # one line per failing case (the first few)
    repro: str | None = None             # runnable Python reproducing the first failure
    known: str | None = None             # the reason in the known-failures file, if listed
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tally:
    """Accumulates the cases of one check."""

    def __init__(self, op: str, check: str) -> None:
        self.r = CheckResult(op, check)
        self.na: list[str] = []
        self.total_fail = 0
        self.t0 = time.perf_counter()

    def error(self, ratio: float | None, abs_err: float | None) -> None:
        if ratio is not None and not math.isnan(ratio):
            self.r.worst = ratio if self.r.worst is None else max(self.r.worst, ratio)
        if abs_err is not None and not math.isnan(abs_err):
            self.r.max_abs = abs_err if self.r.max_abs is None else max(self.r.max_abs, abs_err)

    def ok(self, ratio: float | None = None, abs_err: float | None = None) -> None:
        self.r.cases += 1
        self.error(ratio, abs_err)

    def fail(self, line: str, snippet: str | None = None, ratio: float | None = None,
             abs_err: float | None = None) -> None:
        self.r.cases += 1
        self.total_fail += 1
        self.error(ratio, abs_err)
        if len(self.r.failures) < MAX_FAILURE_LINES:
            self.r.failures.append(line)
        if self.r.repro is None and snippet is not None:
            self.r.repro = snippet

    def skip(self, why: str) -> None:
        self.na.append(why)

    def note(self, text: str) -> None:
        if text not in self.r.notes:
            self.r.notes.append(text)

    def result(self, na_reason: str = "") -> CheckResult:
        r = self.r
        r.seconds = time.perf_counter() - self.t0
        if self.total_fail:
            r.status = FAIL
            r.message = f"{self.total_fail} of {r.cases} case(s) failed; first: {r.failures[0]}"
            if self.total_fail > len(r.failures):
                r.notes.append(f"{self.total_fail - len(r.failures)} more failing case(s) not listed")
        elif r.cases == 0:
            r.status = NA
            r.message = na_reason or (self.na[0] if self.na else "no case applies")
        else:
            r.status = PASS
            if self.na:
                r.notes.append(f"{len(self.na)} case(s) did not apply (e.g. {self.na[0]})")
        return r


def na(op: str, check: str, why: str) -> CheckResult:
    return CheckResult(op, check, NA, message=why)


# ---------------------------------------------------------------- comparisons


def _is_float(a: np.ndarray) -> bool:
    return a.dtype.kind in "fc"


def compare(got: list[np.ndarray], expected: list[np.ndarray], kinds: list[str | None], op: str
            ) -> tuple[bool, float, float, str]:
    """``(ok, worst ratio, worst abs error, what)`` of device results against expected ones.

    ``kinds[i]`` names the tolerance row for output ``i`` (``None``: exact).
    """
    if len(got) != len(expected):
        return False, math.inf, math.inf, f"{len(got)} output(s), expected {len(expected)}"
    worst, worst_abs, what = 0.0, 0.0, ""
    for i, (g, e, kind) in enumerate(zip(got, expected, kinds)):
        g, e = np.asarray(g), np.asarray(e)
        tag = f" (output {i})" if len(got) > 1 else ""
        if g.shape != e.shape:
            return False, math.inf, math.inf, f"shape {g.shape}, expected {e.shape}{tag}"
        if g.size == 0:
            continue
        if kind is None or not (_is_float(e) or _is_float(g)):
            bad = int(np.sum(g != e)) if g.dtype.kind not in "fc" else int(np.sum(~np.isclose(g, e,
                                                                                            equal_nan=True)))
            if bad:
                idx = tuple(int(j) for j in np.argwhere(g != e)[0]) if g.ndim else ()
                return False, math.inf, math.inf, (f"{bad} element(s) differ{tag}, e.g. at {idx}: "
                                                   f"{g[idx]} vs {e[idx]}")
            continue
        tol = tolerance(kind, op)
        g64, e64 = g.astype(np.complex128 if g.dtype.kind == "c" else np.float64), e.astype(
            np.complex128 if e.dtype.kind == "c" else np.float64)
        same = (g64 == e64) | (np.isnan(g64) & np.isnan(e64))
        with np.errstate(all="ignore"):
            err = np.where(same, 0.0, np.abs(g64 - e64))
            err = np.where(np.isnan(err), np.inf, err)
            ratio = err / bound(e64, tol)
        r = float(np.max(ratio))
        a = float(np.max(err))
        if r > worst:
            j = np.unravel_index(int(np.argmax(ratio)), ratio.shape) if ratio.ndim else ()
            what = (f"max abs error {a:.3g}{tag} (rtol={tol.rtol:g}, atol={tol.atol:g}"
                    f"{', norm-wise' if tol.norm else ''}; worst at {tuple(int(x) for x in j)}: "
                    f"got {g[j]}, expected {e[j]})")
        worst, worst_abs = max(worst, r), max(worst_abs, a)
    return worst <= 1.0, worst, worst_abs, what


def _short(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 300 else first[:297] + "..."


# ---------------------------------------------------------------- the context of one device


@dataclass
class Run:
    """One call of an op on the device."""

    case: C.Case
    outs: list[np.ndarray] | None = None
    dtypes: list[str] = field(default_factory=list)
    error: BaseException | None = None
    placement: list[str] = field(default_factory=list)
    reads: int | None = None
    fallbacks: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Ref:
    """The CPU reference of a case: float64 values, and result dtypes at the case's own dtypes."""

    values: list[np.ndarray] | None = None
    dtypes: list[str] = field(default_factory=list)
    error: BaseException | None = None


class Context:
    """Everything the checks of one device share: the backend, its capabilities, caches."""

    def __init__(self, device: str, seed: int = 0) -> None:
        import xpgrad as xg

        self.xg = xg
        self.b = xg.get_backend(device)
        self.device = self.b.device
        self.family = self.b.family
        self.cpu = xg.get_backend("cpu")
        self.seed = int(seed)
        self.claimed = self._claimed()
        self.works: dict[str, bool] = {d: self._works(d) for d in ("float32", "float64")}
        # float64 is checked where it works, and where it is claimed (then its failures show)
        self.f64 = self.works["float64"] or "float64" in (self.claimed or ())
        self.complex = self._works("complex64")
        self.counter = counter_for(self.b)
        self.kernels = family_kernels(self.family)
        self._runs: dict[C.Case, Run] = {}
        self._backward: dict[C.Case, Any] = {}
        self._refs: dict[C.Case, Ref] = {}
        self._kinds: dict[str, str] = {}

    def _works(self, dtype: str) -> bool:
        xg = self.xg
        try:
            x = xg.asarray(np.arange(2.0), dtype=getattr(xg, dtype), device=self.device)
            y = x + x
        except Exception:
            return False
        return C.dtype_name(y.dtype) == dtype

    def lacks(self, exc: BaseException) -> str | None:
        """The dtype family this device lacks that ``exc`` says the case needed, or ``None``."""
        if not self.f64 and _needs_float64(exc):
            return "float64"
        if not self.complex and "complex" in str(exc):
            return "complex dtypes"
        return None

    def _claimed(self) -> list[str] | None:
        """Real floating dtypes the namespace's ``__array_namespace_info__`` lists for this device."""
        info = getattr(self.b.xp, "__array_namespace_info__", None)
        if info is None:
            return None
        try:
            found = info().dtypes(device=self.b.native_device, kind="real floating")
        except Exception:
            try:
                found = info().dtypes(kind="real floating")
            except Exception:
                return None
        return [C.dtype_name(d) for d in dict(found).values()]

    def op_kernels(self, op: str) -> list[KernelInfo]:
        return [k for k in self.kernels if k.op == op]

    # -- reference and device runs, cached per case ----------------------------------------------
    def ref(self, case: C.Case) -> Ref:
        r = self._refs.get(case)
        if r is None:
            r = self._refs[case] = self._ref(case)
        return r

    def _ref(self, case: C.Case) -> Ref:
        try:
            args, params = C.host_inputs(case, self.seed)
            values = C.outputs(C.run_reference(case.op, C._to64(args), params))
            same = case.dtype == "float64" and not case.variant.startswith(("mixed", "pyfloat"))
            at_dtype = values if same else C.outputs(C.run_reference(case.op, args, params))
        except Exception as exc:
            return Ref(error=exc)
        return Ref([np.asarray(v) for v in values], [v.dtype.name for v in at_dtype])

    def run(self, case: C.Case) -> Run:
        r = self._runs.get(case)
        if r is None:
            r = self._runs[case] = self._run(case)
        return r

    def _run(self, case: C.Case) -> Run:
        xg = self.xg
        op = xg.get_op(case.op)
        run = Run(case)
        try:
            host, params = C.host_inputs(case, self.seed)
            layout = case.variant if case.variant in ("transposed", "strided") else "sample"
            args = C.to_device(host, self.device, layout)
            params = C.resolve(params, self.device)
        except Exception as exc:
            run.error = exc
            run.placement.append(f"could not build the inputs on {self.device}: {_short(exc)}")
            return run
        run.params = params
        snap = self.counter.snapshot() if self.counter else None
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            try:
                out = op(*args, **params)
            except Exception as exc:
                run.error = exc
                return run
        if snap is not None:
            run.reads, run.fallbacks = self.counter.since(snap)
        run.warnings = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
        run.placement = self.placement(op, params, out)
        try:
            leaves = out if isinstance(out, (tuple, list)) else (out,)
            run.dtypes = [C.dtype_name(t.dtype) for t in leaves]
            run.outs = C.outputs(out)
        except Exception as exc:
            run.error = exc
        return run

    def expected_backend(self, op: Any, params: dict[str, Any]) -> Any:
        if op.out_backend is not None:
            try:
                return op.out_backend(params)
            except Exception:
                return self.b
        return self.b

    def placement(self, op: Any, params: dict[str, Any], out: Any) -> list[str]:
        """Why the op's result is not where it should be (empty: it is)."""
        xg = self.xg
        b = self.expected_backend(op, params)
        problems = []
        for i, t in enumerate(out if isinstance(out, (tuple, list)) else (out,)):
            tag = f"output {i} " if isinstance(out, (tuple, list)) else "the result "
            if not isinstance(t, xg.Tensor):
                problems.append(f"{tag}is a {type(t).__name__}, not a Tensor")
                continue
            problems += self.raw_placement(t.data, b, tag)
            if t.device != b.device:
                problems.append(f"{tag}is on {t.device}, expected {b.device}")
        return problems

    @staticmethod
    def raw_placement(raw: Any, b: Any, tag: str = "the result ") -> list[str]:
        if isinstance(raw, np.generic) and np.ndarray in b.array_types:
            return []  # a NumPy scalar from a host backend: its wrap() makes it a 0-d array, nothing moves
        if type(raw) not in b.array_types:
            names = ", ".join(t.__name__ for t in b.array_types)
            return [f"{tag}is a {type(raw).__module__}.{type(raw).__name__}, not {names} "
                    f"(the array type of {b.device})"]
        try:
            if not b.owns(raw):
                return [f"{tag}is a {type(raw).__name__} of another device, not of {b.device}"]
        except Exception as exc:
            return [f"{b.device}.owns(result) raised {_short(exc)}"]
        return []

    def rng(self, *key: Any) -> np.random.Generator:
        return np.random.default_rng([self.seed, *(zlib.crc32(str(k).encode()) for k in key)])


# ---------------------------------------------------------------- helpers on samples


def _samples(op: Any) -> list[Any]:
    return op.all_samples()


def _tol_kind(ref: Ref, i: int) -> str | None:
    name = ref.dtypes[i] if i < len(ref.dtypes) else "float64"
    try:
        return name if np.dtype(name).kind in "fc" else None
    except TypeError:
        return name


def _value_case(ctx: Context, t: Tally, case: C.Case, check: str, *, allow_ref_error: bool,
                allow_device_error: bool = False) -> None:
    """Run ``case`` on the device and compare with the reference; record it in ``t``."""
    ref = ctx.ref(case)
    if ref.error is not None:
        if allow_ref_error:
            t.skip(f"{case.describe()}: the CPU reference does not accept it ({_short(ref.error)})")
        else:
            t.fail(f"{case.describe()}: the CPU reference itself failed: {_short(ref.error)} "
                   "(a problem of the op's sample, not of the device)")
        return
    run = ctx.run(case)
    snippet = repro.forward(ctx, case, check)
    if run.error is not None:
        if allow_device_error:
            t.skip(f"{case.describe()}: {_short(run.error)}")
            return
        if ctx.lacks(run.error):
            t.skip(f"{case.describe()}: needs {ctx.lacks(run.error)}, which {ctx.device} does not have")
            return
        t.fail(f"{case.describe()}: raised {_short(run.error)}", snippet)
        return
    kinds = [_tol_kind(ref, i) for i in range(len(ref.values))]
    ok, ratio, abs_err, what = compare(run.outs, ref.values, kinds, case.op)
    if ok:
        t.ok(ratio, abs_err)
    else:
        t.fail(f"{case.describe()}: {what}", snippet, ratio, abs_err)


def _needs_float64(exc: BaseException) -> bool:
    return "float64" in str(exc) or "double" in str(exc)


# ---------------------------------------------------------------- forward


def check_forward(ctx: Context, op: Any, dtype: str) -> CheckResult:
    check = "forward32" if dtype == "float32" else "forward64"
    if dtype == "float64" and not ctx.f64:
        return na(op.name, check, f"{ctx.device} has no float64")
    t = Tally(op.name, check)
    for i in range(len(_samples(op))):
        _value_case(ctx, t, C.Case(op.name, i, dtype), check, allow_ref_error=False)
    return t.result()


# ---------------------------------------------------------------- dtypes and promotion


def _promotion_sample(op: Any) -> tuple[int, list[int], list[int]] | None:
    """The first sample with two or more array inputs: (index, array positions, float positions)."""
    for i, s in enumerate(_samples(op)):
        arrays = C.array_positions(s)
        floats = [p for p in C.float_positions(s) if p in arrays]
        if len(arrays) >= 2 and floats:
            return i, arrays, floats
    return None


def check_dtypes(ctx: Context, op: Any) -> CheckResult:
    t = Tally(op.name, "dtypes")
    dtypes = ["float32", "float64"] if ctx.f64 else ["float32"]
    cases = [C.Case(op.name, i, d) for d in dtypes for i in range(len(_samples(op)))]
    found = _promotion_sample(op)
    if found is not None:
        i, arrays, floats = found
        cases += [C.Case(op.name, i, "float32", f"pyfloat={p}") for p in floats]
        if ctx.f64 and len(floats) >= 2:
            cases += [C.Case(op.name, i, "float32", f"mixed={p}") for p in floats]
    for case in cases:
        ref = ctx.ref(case)
        if ref.error is not None:
            t.skip(f"{case.describe()}: the CPU reference does not accept it")
            continue
        run = ctx.run(case)
        if run.error is not None:
            if case.variant == "sample" and not ctx.lacks(run.error):
                t.skip(f"{case.describe()}: raised (reported by forward)")
            elif case.variant != "sample":
                t.fail(f"{case.describe()}: raised {_short(run.error)}", repro.forward(ctx, case, "dtypes"))
            continue
        snippet = repro.forward(ctx, case, "dtypes")
        if run.dtypes != ref.dtypes:
            what = "; ".join(f"got {g}, expected {e}" for g, e in zip(run.dtypes, ref.dtypes) if g != e) \
                or f"got {run.dtypes}, expected {ref.dtypes}"
            rule = ""
            if case.variant.startswith("pyfloat"):
                rule = " (float32 op Python float must stay float32)"
            elif case.variant.startswith("mixed"):
                rule = " (float32 with float64 must give float64)"
            t.fail(f"{case.describe()}: result dtype: {what}{rule}", snippet)
            continue
        if case.variant != "sample":  # promotion cases: values too
            ok, ratio, abs_err, what = compare(run.outs, ref.values,
                                               [_tol_kind(ref, k) for k in range(len(ref.values))], op.name)
            if not ok:
                t.fail(f"{case.describe()}: {what}", snippet, ratio, abs_err)
                continue
            t.ok(ratio, abs_err)
        else:
            t.ok()
    if op.differentiable:  # gradients come back in the input's dtype
        for i, s in enumerate(_samples(op)):
            if not s.grad:
                continue
            bw = backward_run(ctx, C.Case(op.name, i, "float32", "backward"))
            if bw.error is not None or bw.grads is None:
                continue
            pairs = enumerate(zip(bw.grad_dtypes, bw.in_dtypes))
            bad = [f"gradient {k}: {g}, input {x}" for k, (g, x) in pairs if g != x]
            if bad:
                t.fail(f"sample {i} (float32, backward): gradient dtype differs from the input's: "
                       + "; ".join(bad), repro.backward(ctx, C.Case(op.name, i, "float32"), "dtypes"))
            else:
                t.ok()
    return t.result()


# ---------------------------------------------------------------- broadcasting, 0-d, empty, layout


def _broadcast_variants(op: Any) -> list[C.Case]:
    out: list[C.Case] = []
    samples = _samples(op)
    base = None
    for i, s in enumerate(samples):
        shapes = C.spec_shapes(s)
        if len(shapes) >= 2 and len(set(shapes)) > 1:
            out.append(C.Case(op.name, i, "float32"))  # a declared broadcasting sample
        if base is None and len(shapes) >= 2:
            base = (i, shapes)
    if base is None:
        return out
    i, shapes = base
    try:
        full = tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return out
    if not full:
        full = (3, 4)
    seen = set()
    for p in range(len(shapes)):
        options = [full[1:], (1,) + full[1:], ()]
        if len(full) >= 2:
            options.append(full[:-1] + (1,))
        for shape in options:
            new = [full] * len(shapes)
            new[p] = tuple(shape)
            if len(full) >= 2 and shape == full[:-1] + (1,) and len(shapes) >= 2:  # outer: (3, 1) with (1, 4)
                q = (p + 1) % len(shapes)
                new[q] = (1,) * (len(full) - 1) + full[-1:]
            key = tuple(new)
            if key in seen or all(s == full for s in new):
                continue
            seen.add(key)
            out.append(C.Case(op.name, i, "float32", f"shapes={[tuple(s) for s in new]!r}"))
    return out


def check_broadcast(ctx: Context, op: Any) -> CheckResult:
    if not op.broadcasting:
        return na(op.name, "broadcast", "the op does not broadcast (broadcasting=False)")
    t = Tally(op.name, "broadcast")
    for case in _broadcast_variants(op):
        _value_case(ctx, t, case, "broadcast", allow_ref_error=case.variant != "sample")
    return t.result("no broadcasting variant of the samples is accepted by the CPU reference")


def classify(ctx: Context, op: Any) -> str:
    """``"elementwise"``, ``"reduction"`` or ``"other"``, from the op's samples on the CPU reference."""
    if op.name in ctx._kinds:
        return ctx._kinds[op.name]
    kind = "other"
    samples = _samples(op)
    shapes_ok, reduces = True, True
    for i, s in enumerate(samples):
        ref = ctx.ref(C.Case(op.name, i, "float32"))
        shapes = C.spec_shapes(s)
        if ref.error is not None or not shapes or len(ref.values) != 1:
            shapes_ok = reduces = False
            break
        try:
            bshape = tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            shapes_ok = False
            bshape = None
        if tuple(ref.values[0].shape) != bshape:
            shapes_ok = False
        if len(shapes) != 1 or ref.values[0].ndim > len(shapes[0]):
            reduces = False
    if samples and shapes_ok and not {"shape", "key", "axes"} & set(op.param_names):
        kind = "elementwise"
    elif samples and reduces and {"axis", "keepdims"} & set(op.param_names):
        kind = "reduction"
    ctx._kinds[op.name] = kind
    return kind


def check_edge(ctx: Context, op: Any) -> CheckResult:
    kind = classify(ctx, op)
    if kind == "other":
        return na(op.name, "edge", "0-d and empty inputs are checked for elementwise and reduction ops")
    t = Tally(op.name, "edge")
    done = 0
    for i, s in enumerate(_samples(op)):
        shapes = C.spec_shapes(s)
        if not shapes:
            continue
        if all(sh == () for sh in shapes):  # a declared 0-d sample
            _value_case(ctx, t, C.Case(op.name, i, "float32"), "edge", allow_ref_error=False)
            continue
        if done >= EDGE_SAMPLES:
            continue
        done += 1
        for variant in ("0-d", "empty"):
            if variant == "0-d" and _has_axis(op, s):
                t.skip(f"sample {i}: 0-d input with an axis (out of range for 0-d in the Array API)")
                continue
            _value_case(ctx, t, C.Case(op.name, i, "float32", variant), "edge", allow_ref_error=True)
    return t.result("no 0-d or empty variant of the samples is accepted by the CPU reference")


def _has_axis(op: Any, sample: Any) -> bool:
    """Whether the sample reduces or scans along an explicit axis (its own, or the op's default)."""
    import inspect

    if "axis" not in op.param_names:
        return False
    if "axis" in sample.params:
        return sample.params["axis"] not in (None, ())
    p = inspect.signature(op.forward).parameters.get("axis")
    return p is not None and p.default not in (None, (), inspect.Parameter.empty)


def check_layout(ctx: Context, op: Any) -> CheckResult:
    t = Tally(op.name, "layout")
    done = 0
    for i, s in enumerate(_samples(op)):
        shapes = C.spec_shapes(s)
        if done >= LAYOUT_SAMPLES or not any(len(sh) >= 1 for sh in shapes):
            continue
        done += 1
        if any(len(sh) >= 2 for sh in shapes):
            _value_case(ctx, t, C.Case(op.name, i, "float32", "transposed"), "layout", allow_ref_error=False)
        _value_case(ctx, t, C.Case(op.name, i, "float32", "strided"), "layout", allow_ref_error=False)
    return t.result("the op has no array input of one or more dimensions")


# ---------------------------------------------------------------- derivatives


@dataclass
class GradSetup:
    """A sample ready for derivative checks: the op as a function of its floating inputs, on both sides."""

    case: C.Case
    f_dev: Callable[..., Any]
    f_cpu: Callable[..., Any]
    prim_dev: list[Any]
    prim_cpu: list[Any]
    kind: str       # "" (float64 on the device) or "-float32"


def _grad_setup(ctx: Context, op: Any, i: int) -> GradSetup | str:
    xg = ctx.xg
    dtype = "float64" if ctx.f64 else "float32"
    case = C.Case(op.name, i, dtype)
    host, params = C.host_inputs(case, ctx.seed)
    pos = [k for k, a in enumerate(host) if isinstance(a, np.ndarray) and a.dtype.kind in "fc"]
    if not pos:
        return "no floating-point array input to differentiate"
    dev_args = C.to_device(host, ctx.device)
    cpu_args = C.to_device(C._to64(host), "cpu")
    p_dev, p_cpu = C.resolve(params, ctx.device), C.resolve(params, "cpu")

    def partial(args: list[Any], prm: dict[str, Any]) -> Callable[..., Any]:
        def f(*xs: Any) -> Any:
            full = list(args)
            for k, v in zip(pos, xs):
                full[k] = v
            return op(*full, **prm)
        return f
    del xg
    return GradSetup(case, partial(dev_args, p_dev), partial(cpu_args, p_cpu), [dev_args[k] for k in pos],
                     [cpu_args[k] for k in pos], "" if ctx.f64 else "-float32")


def _leaves(y: Any) -> list[Any]:
    from ..core.pytree import flatten

    return list(flatten(y)[0])


def _like(ctx: Context, rng: np.random.Generator, ts: list[Any]) -> tuple[list[Any], list[Any]]:
    """Random directions shaped like ``ts``: (on the tensors' devices and dtypes, on the CPU in float64)."""
    xg = ctx.xg
    dev, cpu = [], []
    for t in ts:
        v = rng.standard_normal(tuple(t.shape))
        cplx = xg.isdtype(t.dtype, "complex floating")
        if cplx:
            v = v + 1j * rng.standard_normal(tuple(t.shape))
        dev.append(xg.asarray(v, dtype=t.dtype, device=t.device))
        cpu.append(xg.asarray(v, dtype=xg.complex128 if cplx else xg.float64, device="cpu"))
    return dev, cpu


def _host(t: Any) -> np.ndarray:
    xg_t = getattr(t, "numpy", None)
    a = np.asarray(xg_t() if callable(xg_t) else t)
    return a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)


def _inner(a: list[Any], b: list[Any]) -> float:
    """Re Σ conj(a)·b: complex numbers as pairs of reals, the inner product whose adjoint is the VJP."""
    return float(sum(np.real(np.sum(np.conj(_host(x)) * _host(y))) for x, y in zip(a, b)))


def _fd(f: Callable[..., Any], prim: list[Any], tan: list[Any]) -> list[np.ndarray]:
    from ..testing import numerical_jvp

    with np.errstate(all="ignore"):
        return numerical_jvp(f, prim, tan, FD_EPS)


def _jvp_case(ctx: Context, t: Tally, op: Any, f_dev: Callable, f_cpu: Callable, prim_dev: list,
              prim_cpu: list, rng: np.random.Generator, kind: str, label: str, snippet: str) -> None:
    xg = ctx.xg
    v_dev, v_cpu = _like(ctx, rng, prim_dev)
    _, t_ad = xg.jvp(f_dev, tuple(prim_dev), tuple(v_dev))
    got = [_host(x) for x in _leaves(t_ad)]
    fd = _fd(f_cpu, prim_cpu, v_cpu)
    ok, ratio, abs_err, what = compare(got, fd, [kind] * len(fd), op.name)
    if ok:
        t.ok(ratio, abs_err)
    else:
        t.fail(f"{label}: JVP vs central differences: {what}", snippet, ratio, abs_err)


def _vjp_case(ctx: Context, t: Tally, op: Any, f_dev: Callable, f_cpu: Callable, prim_dev: list,
              prim_cpu: list, rng: np.random.Generator, kind: str, label: str, snippet: str) -> None:
    xg = ctx.xg
    from ..core.pytree import flatten, unflatten

    out, pullback = xg.vjp(f_dev, *prim_dev)
    leaves, tree = flatten(out)
    u_dev, u_cpu = _like(ctx, rng, leaves)
    cts = _leaves(pullback(unflatten(tree, u_dev)))
    v_dev, v_cpu = _like(ctx, rng, prim_dev)
    fd = _fd(f_cpu, prim_cpu, v_cpu)
    lhs = _inner(u_cpu, fd)
    rhs = _inner(cts, v_cpu)
    rtol, atol, _ = tolerance(kind, op.name)
    err = abs(lhs - rhs)
    ratio = err / (atol + rtol * abs(lhs)) if math.isfinite(err) else math.inf
    if ratio <= 1.0:
        t.ok(ratio, err)
    else:
        t.fail(f"{label}: <u, J v> = {lhs:.10g} (central differences) but <J^T u, v> = {rhs:.10g} (VJP); "
               f"error {err:.3g} (rtol={rtol:g}, atol={atol:g})", snippet, ratio, err)


def _grad_cases(op: Any) -> list[int]:
    return [i for i, s in enumerate(_samples(op)) if s.grad]


def check_first_order(ctx: Context, op: Any, which: str) -> CheckResult:
    if not op.differentiable:
        return na(op.name, which, "the op is declared not differentiable (see nondiff)")
    t = Tally(op.name, which)
    for i in _grad_cases(op):
        try:
            setup = _grad_setup(ctx, op, i)
        except Exception as exc:
            if ctx.lacks(exc):
                t.skip(f"sample {i}: needs {ctx.lacks(exc)}, which {ctx.device} does not have")
            else:
                t.fail(f"sample {i}: could not build the inputs: {_short(exc)}")
            continue
        if isinstance(setup, str):
            t.skip(f"sample {i}: {setup}")
            continue
        kind = which + setup.kind
        label = setup.case.describe()
        snippet = repro.gradient(ctx, setup.case, which)
        rng = ctx.rng(op.name, i, which)
        try:
            fn = _jvp_case if which == "jvp" else _vjp_case
            fn(ctx, t, op, setup.f_dev, setup.f_cpu, setup.prim_dev, setup.prim_cpu, rng, kind, label,
               snippet)
        except Exception as exc:
            if ctx.lacks(exc):
                t.skip(f"{label}: needs {ctx.lacks(exc)}, which {ctx.device} does not have")
                continue
            t.fail(f"{label}: raised {_short(exc)}", snippet)
    if not _grad_cases(op):
        return na(op.name, which, "no sample declares gradient checks (Sample(grad=False))")
    return t.result()


def check_order2(ctx: Context, op: Any) -> CheckResult:
    xg = ctx.xg
    if not op.differentiable:
        return na(op.name, "order2", "the op is declared not differentiable (see nondiff)")
    if op.order < 2:
        return na(op.name, "order2", f"the op's rules support order {op.order} (op.order)")
    if not _grad_cases(op):
        return na(op.name, "order2", "no sample declares gradient checks (Sample(grad=False))")
    from ..core.pytree import flatten, unflatten

    t = Tally(op.name, "order2")
    for i in _grad_cases(op):
        try:
            setup = _grad_setup(ctx, op, i)
        except Exception as exc:
            if ctx.lacks(exc):
                t.skip(f"sample {i}: needs {ctx.lacks(exc)}, which {ctx.device} does not have")
            else:
                t.fail(f"sample {i}: could not build the inputs: {_short(exc)}")
            continue
        if isinstance(setup, str):
            t.skip(f"sample {i}: {setup}")
            continue
        kind = "order2" + setup.kind
        rng = ctx.rng(op.name, i, "order2")
        try:
            out = setup.f_dev(*setup.prim_dev)
        except Exception as exc:
            if ctx.lacks(exc):
                t.skip(f"{setup.case.describe()}: needs {ctx.lacks(exc)}, which {ctx.device} does not have")
            else:
                t.fail(f"{setup.case.describe()}: the forward raised {_short(exc)}",
                       repro.gradient(ctx, setup.case, "order2"))
            continue
        leaves, tree = flatten(out)
        u_dev, u_cpu = _like(ctx, rng, leaves)
        v_dev, v_cpu = _like(ctx, rng, setup.prim_dev)

        def f_vjp_dev(*xs: Any, f=setup.f_dev, u=u_dev, tree=tree) -> Any:
            return xg.vjp(f, *xs)[1](unflatten(tree, u))

        def f_vjp_cpu(*xs: Any, f=setup.f_cpu, u=u_cpu, tree=tree) -> Any:
            return xg.vjp(f, *xs)[1](unflatten(tree, u))

        def f_jvp_dev(*xs: Any, f=setup.f_dev, v=v_dev) -> Any:
            return xg.jvp(f, tuple(xs), tuple(v))[1]

        def f_jvp_cpu(*xs: Any, f=setup.f_cpu, v=v_cpu) -> Any:
            return xg.jvp(f, tuple(xs), tuple(v))[1]

        for label, fn, fd, fc in (("forward-over-reverse", _jvp_case, f_vjp_dev, f_vjp_cpu),
                                  ("reverse-over-reverse", _vjp_case, f_vjp_dev, f_vjp_cpu),
                                  ("forward-over-forward", _jvp_case, f_jvp_dev, f_jvp_cpu),
                                  ("reverse-over-forward", _vjp_case, f_jvp_dev, f_jvp_cpu)):
            full = f"{setup.case.describe()}, {label}"
            snippet = repro.gradient(ctx, setup.case, "order2", label)
            try:
                fn(ctx, t, op, fd, fc, setup.prim_dev, setup.prim_cpu, rng, kind, full, snippet)
            except Exception as exc:
                if ctx.lacks(exc):
                    t.skip(f"{full}: needs {ctx.lacks(exc)}, which {ctx.device} does not have")
                else:
                    t.fail(f"{full}: raised {_short(exc)}", snippet)
    return t.result()


def check_nondiff(ctx: Context, op: Any) -> CheckResult:
    xg = ctx.xg
    if op.differentiable:
        return na(op.name, "nondiff", "the op is differentiable (see jvp, vjp)")
    t = Tally(op.name, "nondiff")
    for i in range(len(_samples(op))):
        case = C.Case(op.name, i, "float32")
        snippet = repro.nondiff(ctx, case)
        try:
            args, params = C.inputs(op.name, i, "float32", device=ctx.device, seed=ctx.seed)
            watched = [a for a in args if isinstance(a, xg.Tensor) and xg.isdtype(a.dtype, "real floating")]
            for a in watched:
                a.requires_grad = True
            out = op(*args, **params)
        except Exception as exc:
            t.skip(f"{case.describe()}: raised {_short(exc)} (reported by forward)")
            continue
        problems = []
        for k, o in enumerate(out if isinstance(out, tuple) else (out,)):
            if o.requires_grad:
                problems.append(f"output {k} requires grad")
            try:
                xg.sum(xg.astype(o, xg.float32)).backward()
            except xg.XpgradError:
                pass
            except Exception as exc:
                problems.append(f"backward through output {k} raised {_short(exc)}, not an xpgrad error")
            else:
                problems.append(f"backward through output {k} did not raise")
            if watched:  # the functional transforms see a constant: zero gradients, as in JAX
                try:
                    gs = xg.grad(lambda *xs, k=k: xg.sum(xg.astype(
                        _leaves(op(*_swap(args, watched, xs), **params))[k], xg.float32)),
                        argnums=tuple(range(len(watched))))(*watched)
                    nonzero = [j for j, g in enumerate(gs) if np.any(_host(g) != 0)]
                    if nonzero:
                        problems.append(f"xpgrad.grad through output {k} gave non-zero gradients "
                                        f"for input(s) {nonzero}")
                except Exception as exc:
                    problems.append(f"xpgrad.grad through output {k} raised {_short(exc)}")
        if problems:
            t.fail(f"{case.describe()}: " + "; ".join(problems), snippet)
        else:
            t.ok()
    return t.result()


def _swap(args: list[Any], watched: list[Any], xs: tuple) -> list[Any]:
    ids = {id(w): x for w, x in zip(watched, xs)}
    return [ids.get(id(a), a) for a in args]


# ---------------------------------------------------------------- residency


@dataclass
class Backward:
    case: C.Case
    grads: list[Any] | None = None
    grad_dtypes: list[str] = field(default_factory=list)
    in_dtypes: list[str] = field(default_factory=list)
    placement: list[str] = field(default_factory=list)
    reads: int | None = None
    fallbacks: dict[str, int] = field(default_factory=dict)
    error: BaseException | None = None


def backward_run(ctx: Context, case: C.Case, *, fresh: bool = False) -> Backward:
    """Forward and backward of a float32 sample on the device, counting device-to-host reads.

    Kept per case for the other checks; ``fresh`` runs it again, uncached (residency's runs
    differ: they set aside kernels that compute on the host).
    """
    key = C.Case(case.op, case.sample, case.dtype, "backward")
    cache = {} if fresh else ctx._backward
    if key in cache:
        return cache[key]
    xg = ctx.xg
    op = xg.get_op(case.op)
    bw = Backward(key)
    cache[key] = bw
    try:
        host, params = C.host_inputs(C.Case(case.op, case.sample, case.dtype), ctx.seed)
        args = C.to_device(host, ctx.device)
        params = C.resolve(params, ctx.device)
        pos = [k for k, a in enumerate(args)
               if isinstance(a, xg.Tensor) and xg.isdtype(a.dtype, "real floating")]
        if not pos:
            bw.error = ValueError("no floating input")
            return bw
        prim = [args[k] for k in pos]

        def f(*xs: Any) -> Any:
            full = list(args)
            for k, v in zip(pos, xs):
                full[k] = v
            return op(*full, **params)
        snap = ctx.counter.snapshot() if ctx.counter else None
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out, pullback = xg.vjp(f, *prim)
            from ..core.pytree import flatten, unflatten

            leaves, tree = flatten(out)
            cts = _leaves(pullback(unflatten(tree, [xg.ones_like(o) for o in leaves])))
        if snap is not None:
            bw.reads, bw.fallbacks = ctx.counter.since(snap)
    except Exception as exc:
        bw.error = exc
        return bw
    bw.grads = cts
    bw.grad_dtypes = [C.dtype_name(g.dtype) for g in cts]
    bw.in_dtypes = [C.dtype_name(p.dtype) for p in prim]
    for k, (g, p) in enumerate(zip(cts, prim)):
        if g.device != p.device:
            bw.placement.append(f"gradient {k} is on {g.device}, its input on {p.device}")
        else:
            bw.placement += ctx.raw_placement(g.data, p._b, f"gradient {k} ")
    return bw


def check_residency(ctx: Context, op: Any) -> CheckResult:
    from ..core.dispatch import stay_on_device

    with stay_on_device():   # kernels that compute on the host by design are the kernel check's business
        return _check_residency(ctx, op)


def _check_residency(ctx: Context, op: Any) -> CheckResult:
    t = Tally(op.name, "residency")
    aside = [k.name for k in ctx.op_kernels(op.name) if k.transfers]
    if aside:
        t.note(f"kernel(s) {', '.join(aside)} compute on the host by design (Kernel.transfers): set aside "
               "here, so the device's own kernels are what is checked")
    moves = op.out_backend is not None  # to_device: a transfer by definition
    if ctx.counter is None:
        t.note(f"{ctx.device} exposes no transfer counter" + (" (host memory)" if ctx.family == "cpu" else
               ": placement checked, round trips not counted (see docs/conformance.md)"))
    else:
        t.note(f"device-to-host reads counted by {ctx.counter.source}")
    # An op may reach other ops' kernels through its rules (linear runs matmul's): rerun the forward
    # here, under stay_on_device, whenever any kernel of this device computes on the host by design.
    fresh = any(k.transfers for k in ctx.kernels)
    for i in range(len(_samples(op))):
        case = C.Case(op.name, i, "float32")
        run = ctx._run(case) if fresh else ctx.run(case)
        snippet = repro.residency(ctx, case)
        running = None
        if op.kernels and op.kernels.get(ctx.b) is not None:
            try:
                host, params = C.host_inputs(case, ctx.seed)
                raw = [a.data if isinstance(a, ctx.xg.Tensor) else a for a in C.to_device(host, ctx.device)]
                params = C.resolve(params, ctx.device)
                running = running_kernel(op, ctx.b, signature_of(raw, params, op.name, ctx.device), raw)
            except Exception:   # inputs the op refuses: the forward check reports them
                running = None
        problems = []
        if run.error is None:
            problems += run.placement
            if not moves and run.reads:
                problems.append(f"{run.reads} device-to-host read(s) during the forward")
            if not moves and run.fallbacks:
                problems.append(_fallbacks(run.fallbacks))
        if running is not None:  # the kernel's own result, before the backend's wrap could hide it
            try:
                host, params = C.host_inputs(case, ctx.seed)
                raw = [a.data if isinstance(a, ctx.xg.Tensor) else a for a in C.to_device(host, ctx.device)]
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    kout = running(ctx.b.xp, *raw, **C.resolve(params, ctx.device))
                name = getattr(running, "__qualname__", running)
                for k, o in enumerate(kout if isinstance(kout, tuple) else (kout,)):
                    tag = f"its output {k} " if isinstance(kout, tuple) else "its result "
                    problems += [f"the running kernel ({name}): {p}"
                                 for p in ctx.raw_placement(o, ctx.b, tag)]
            except Exception as exc:
                if run.error is None:
                    problems.append(f"calling the running kernel directly raised {_short(exc)}")
        if run.error is not None and not problems:
            if not ctx.lacks(run.error):
                t.skip(f"{case.describe()}: raised (reported by forward)")
            continue
        if problems:
            t.fail(f"{case.describe()}: " + "; ".join(problems), snippet)
        else:
            t.ok()
        for w in run.warnings[:3]:
            t.note(f"{case.describe()}: warning during the forward: {w[:200]}")
        if op.differentiable and _samples(op)[i].grad:
            bw = backward_run(ctx, case, fresh=fresh)
            if bw.error is not None:
                continue
            problems = list(bw.placement)
            if not moves and bw.reads:
                problems.append(f"{bw.reads} device-to-host read(s) during forward and backward")
            if not moves and bw.fallbacks:
                problems.append(_fallbacks(bw.fallbacks))
            if problems:
                t.fail(f"{case.describe()} backward: " + "; ".join(problems),
                       repro.backward(ctx, case, "residency"))
            else:
                t.ok()
    return t.result()


# ---------------------------------------------------------------- kernels and their costs


def _fallbacks(counts: dict[str, int]) -> str:
    return "host fallback(s): " + ", ".join(f"{k} x{v}" for k, v in counts.items())


def _kernel_cases(ctx: Context, op: Any) -> list[C.Case]:
    out = [C.Case(op.name, i, "float32") for i in range(len(_samples(op)))]
    if ctx.f64:
        out += [C.Case(op.name, i, "float64") for i in range(len(_samples(op)))]
    for i, s in enumerate(_samples(op)):
        shapes = C.spec_shapes(s)
        for k in KERNEL_SCALES:
            big = [C.scale_shape(sh, k) for sh in shapes]
            small = all(math.prod(b) <= MAX_KERNEL_ELEMENTS for b in big)
            if shapes and small and any(len(sh) for sh in shapes):
                out.append(C.Case(op.name, i, "float32", f"scaled={k}"))
    return out


def _holds(ctx: Context, dtype: str) -> bool:
    try:
        ctx.xg.zeros((1,), dtype=dtype, device=ctx.device)
    except Exception:
        return False
    return True


def check_kernels(ctx: Context, op: Any, stats: dict[str, Any] | None = None) -> CheckResult:
    kernels = ctx.op_kernels(op.name)
    if not kernels:
        return na(op.name, "kernels", f"no kernel for this op on family {ctx.family!r}")
    xg = ctx.xg
    t = Tally(op.name, "kernels")
    per = {id(k.forward): {"name": k.name, "plugin": k.plugin, "cases": 0, "failed": 0, "runs": 0,
                           "cost_model": 0, "unsupported": 0, "worst": None}
           for k in kernels}
    def cases() -> Any:
        yield from ((c, None) for c in _kernel_cases(ctx, op))
        # Kernels that declined every float32/float64 case are for other dtypes (the half-precision
        # products on cpu): check them on float16 samples, where the device holds float16.
        idle = {id(k.forward) for k in kernels
                if per[id(k.forward)]["cases"] == 0 and per[id(k.forward)]["unsupported"]}
        if idle and _holds(ctx, "float16"):
            yield from ((C.Case(op.name, i, "float16"), idle) for i in range(len(_samples(op))))

    for case, only in cases():
        try:
            host, params = C.host_inputs(case, ctx.seed)
            args = C.to_device(host, ctx.device)
            params = C.resolve(params, ctx.device)
            raw = [a.data if isinstance(a, xg.Tensor) else a for a in args]
        except Exception as exc:
            t.skip(f"{case.describe()}: inputs: {_short(exc)}")
            continue
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                generic = C.outputs(_raw_outputs(ctx, op.forward(ctx.b.xp, *raw, **params)))
        except Exception as exc:
            t.skip(f"{case.describe()}: the generic forward does not accept it ({_short(exc)})")
            continue
        sig = signature_of(raw, params, op.name, ctx.device)
        chosen = running_kernel(op, ctx.b, sig, raw)
        predicted = cost_model_choice(kernels, sig, ctx.b.profile)
        kinds = [g.dtype.name if g.dtype.kind in "fc" else None for g in generic]
        for k in kernels:
            if only is not None and id(k.forward) not in only:
                continue
            st = per[id(k.forward)]
            try:
                if declines(k, sig) is not None:
                    st["unsupported"] += 1
                    continue
            except Exception as exc:
                t.fail(f"{k.name}: supports({case.describe()}) raised {_short(exc)}")
                continue
            st["cases"] += 1
            runs = chosen is k.forward
            st["runs"] += runs
            st["cost_model"] += predicted is k
            label = f"kernel {k.name!r}, {case.describe()}" + (" [runs through the op]" if runs else "")
            snippet = repro.kernel(ctx, case, k)
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    kout = k.forward(ctx.b.xp, *raw, **params)
                    placement = [p for o in (kout if isinstance(kout, tuple) else (kout,))
                                 for p in ctx.raw_placement(o, ctx.b)]
                    got = C.outputs(_raw_outputs(ctx, kout)) if not placement else None
            except Exception as exc:
                st["failed"] += 1
                t.fail(f"{label}: raised {_short(exc)}", snippet)
                continue
            if placement:
                st["failed"] += 1
                t.fail(f"{label}: " + "; ".join(placement), snippet)
                continue
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    via_op = C.outputs(op(*args, **params)) if runs else None
            except Exception as exc:
                st["failed"] += 1
                t.fail(f"{label}: through the op: raised {_short(exc)}", snippet)
                continue
            ok, ratio, abs_err, what = compare(got, generic, kinds, op.name)
            if ok and via_op is not None:
                ok2, r2, a2, what2 = compare(via_op, generic, kinds, op.name)
                if not ok2:
                    ok, ratio, abs_err, what = ok2, r2, a2, f"through the op: {what2}"
            if ok and got is not None:
                bad = [f"{g.dtype} vs {e.dtype}" for g, e in zip(got, generic) if g.dtype != e.dtype]
                if bad:
                    ok, what = False, "result dtype differs from the generic forward's: " + ", ".join(bad)
            st["worst"] = ratio if st["worst"] is None else max(st["worst"], ratio)
            if ok:
                t.ok(ratio, abs_err)
            else:
                st["failed"] += 1
                t.fail(f"{label}: {what}", snippet, ratio, abs_err)
    for k in kernels:
        st = per[id(k.forward)]
        t.note(f"{k.name} ({k.plugin}): {st['cases']} case(s), runs through the op on {st['runs']}, "
               f"cost model's choice on {st['cost_model']}, unsupported {st['unsupported']}")
    if stats is not None:
        stats.update({id_: v for id_, v in per.items()})
    return t.result("no sample shape is accepted by the op's generic forward")


def _raw_outputs(ctx: Context, out: Any) -> Any:
    if isinstance(out, tuple):
        return tuple(o if isinstance(o, ctx.xg.Tensor) else ctx.xg.Tensor(o, device=ctx.device) for o in out)
    return ctx.xg.Tensor(out, device=ctx.device) if not isinstance(out, ctx.xg.Tensor) else out


def check_cost(ctx: Context, op: Any, found: dict[str, list] | None = None) -> CheckResult:
    kernels = [k for k in ctx.op_kernels(op.name) if k.cost is not None]
    if not kernels:
        n = len(ctx.op_kernels(op.name))
        return na(op.name, "cost", "no kernel for this op on family " f"{ctx.family!r}" if not n
                  else f"{n} kernel(s), none with a cost function (Kernel.cost)")
    t = Tally(op.name, "cost")
    profile = ctx.b.profile
    for i, s in enumerate(_samples(op)):
        shapes = C.spec_shapes(s)
        if not shapes:
            continue
        dt = [np.dtype(np.float32) if s.args[p][0] not in ("int", "bool") else
              np.dtype(np.int64 if s.args[p][0] == "int" else np.bool_) for p in C.array_positions(s)]
        params = C.resolve(s.params, ctx.device)
        sigs = []
        for k in COST_SCALES:  # only sizes the op itself accepts (the CPU reference runs them)
            big = [C.scale_shape(sh, k) for sh in shapes]
            if k > 1 and (any(math.prod(b) > COST_REFERENCE_ELEMENTS for b in big)
                          or ctx.ref(C.Case(op.name, i, "float32", f"scaled={k}")).error is not None):
                continue
            sigs.append((f"sample {i}" + (f" x{k}" if k > 1 else ""),
                         Signature(big, dt, params, op.name, ctx.device)))
        for k in kernels:
            problems, costs = cost_problems(k, sigs, profile)
            if found is not None:
                found.setdefault(k.name, []).extend(costs)
            if problems:
                t.fail(f"kernel {k.name!r}: " + "; ".join(problems), repro.cost(ctx, op.name, i, k))
            elif costs:
                t.ok()
            else:
                t.skip(f"kernel {k.name!r} supports no size of sample {i}")
    return t.result("no kernel supports the sample shapes")


# ---------------------------------------------------------------- device-level


def check_claims(ctx: Context) -> CheckResult:
    t = Tally("(device)", "claims")
    if ctx.claimed is None:
        t.note("the namespace has no __array_namespace_info__().dtypes(): dtypes found by trying them")
    else:
        t.note(f"claimed real floating dtypes: {', '.join(ctx.claimed) or 'none'}")
    if ctx.works["float32"]:
        t.ok()
    else:
        t.fail("float32 does not work: a float32 array cannot be made and added on the device "
               "(every device must compute in float32)", repro.profile(ctx))
    claims64 = ctx.claimed is not None and "float64" in ctx.claimed
    if claims64 and not ctx.works["float64"]:
        t.fail("__array_namespace_info__ claims float64, but a float64 array cannot be made and added "
               "on the device")
    elif ctx.works["float64"] and ctx.claimed is not None and not claims64:
        t.note("float64 works although __array_namespace_info__ does not list it")
    t.note("float64: " + ("checked (forward64, derivatives in float64)" if ctx.f64
                          else "not available: forward64 does not apply; derivatives checked in float32"))
    return t.result()


def check_device(ctx: Context) -> dict[str, CheckResult]:
    claims = check_claims(ctx)
    t = Tally("(device)", "profile")
    try:
        problems, seen = profile_problems(ctx.b.profile, has_float64=ctx.f64)
    except Exception as exc:
        problems, seen = [f"reading the profile raised {_short(exc)}"], {}
    if problems:
        for p in problems:
            t.fail(p, repro.profile(ctx))
    else:
        t.ok()
    r = t.result()
    for k, v in seen.items():
        r.notes.append(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k}: {v}")
    return {"claims": claims, "profile": r}


# ---------------------------------------------------------------- one op


def applicable(op: Any, check: str, ctx: Context | None = None) -> bool:
    """Whether ``check`` can apply to ``op`` at all (without running anything)."""
    if check in ("jvp", "vjp"):
        return op.differentiable
    if check == "order2":
        return op.differentiable and op.order >= 2
    if check == "nondiff":
        return not op.differentiable
    if check == "broadcast":
        return op.broadcasting
    if check in ("kernels", "cost") and ctx is not None:
        ks = ctx.op_kernels(op.name)
        return bool(ks) and (check == "kernels" or any(k.cost is not None for k in ks))
    if check == "forward64" and ctx is not None:
        return ctx.f64
    return True


def check_op(ctx: Context, op: Any, checks: tuple[str, ...] = CHECKS,
             kernel_stats: dict[str, Any] | None = None) -> dict[str, CheckResult]:
    """Every check in ``checks`` of ``op`` on the context's device."""
    if not _samples(op):
        return {c: CheckResult(op.name, c, UNTESTED, message="the op declares no sample inputs "
                               "(op.defsamples): nothing can be checked")
                for c in checks if applicable(op, c)}
    table: dict[str, Callable[[], CheckResult]] = {
        "forward32": lambda: check_forward(ctx, op, "float32"),
        "forward64": lambda: check_forward(ctx, op, "float64"),
        "dtypes": lambda: check_dtypes(ctx, op),
        "broadcast": lambda: check_broadcast(ctx, op),
        "edge": lambda: check_edge(ctx, op),
        "layout": lambda: check_layout(ctx, op),
        "jvp": lambda: check_first_order(ctx, op, "jvp"),
        "vjp": lambda: check_first_order(ctx, op, "vjp"),
        "order2": lambda: check_order2(ctx, op),
        "nondiff": lambda: check_nondiff(ctx, op),
        "kernels": lambda: check_kernels(ctx, op, kernel_stats),
        "residency": lambda: check_residency(ctx, op),
        "cost": lambda: check_cost(ctx, op),
    }
    out: dict[str, CheckResult] = {}
    for c in checks:
        t0 = time.perf_counter()
        try:
            r = table[c]()
        except Exception as exc:  # a crash of the check itself: a failure, with the traceback
            r = CheckResult(op.name, c, FAIL, cases=1, message=f"the check raised {_short(exc)}",
                            failures=[f"the check raised {_short(exc)}"],
                            notes=["".join(traceback.format_exception(type(exc), exc,
                                                                      exc.__traceback__))[-2000:]],
                            repro=repro.rerun(ctx, op.name, c))
        r.seconds = time.perf_counter() - t0
        if r.status == FAIL and r.repro is None:
            r.repro = repro.rerun(ctx, op.name, c)
        out[c] = r
    return out
