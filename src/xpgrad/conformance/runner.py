"""Running the suite on a device: :func:`run` returns a :class:`Report`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
import datetime as _dt
import platform
import time
from pathlib import Path
from typing import Any

from . import checks as K
from .known import DEVICE_ROW, KnownFailures, builtin, load
from .tolerances import table_rows

__all__ = ["run", "run_target", "Report", "Suite", "devices_of", "apply_known"]


@dataclass
class Report:
    """The results of one device: ``results[op][check]`` and ``device_results[check]``, plus context."""

    device: str
    family: str
    meta: dict[str, Any]
    checks: list[str]
    results: dict[str, dict[str, K.CheckResult]]
    device_results: dict[str, K.CheckResult]
    ops: dict[str, dict[str, Any]]
    kernels: list[dict[str, Any]]
    known: KnownFailures | None = None
    stale: list[dict[str, str]] = field(default_factory=list)       # wildcard entries now passing
    known_problems: list[str] = field(default_factory=list)         # entries naming nothing
    seconds: float = 0.0

    # -- summaries ----------------------------------------------------------------------
    def all_results(self) -> list[K.CheckResult]:
        out = list(self.device_results.values())
        for row in self.results.values():
            out += list(row.values())
        return out

    def counts(self) -> dict[str, int]:
        c = Counter(r.status for r in self.all_results())
        return {s: c.get(s, 0) for s in (K.PASS, K.FAIL, K.XFAIL, K.XPASS, K.UNTESTED, K.NA)}

    def failures(self) -> list[K.CheckResult]:
        return [r for r in self.all_results() if r.status == K.FAIL]

    def untested(self) -> list[str]:
        return sorted({r.op for r in self.all_results() if r.status == K.UNTESTED})

    def xpassed(self) -> list[K.CheckResult]:
        return [r for r in self.all_results() if r.status == K.XPASS]

    def ok(self, strict: bool = False) -> bool:
        """No unexpected failure (``strict``: nor stale known failures, untested ops or bad entries)."""
        if self.failures():
            return False
        if strict and (self.xpassed() or self.stale or self.untested() or self.known_problems):
            return False
        return True

    def summary_line(self) -> str:
        c = self.counts()
        ops = len(self.results)
        parts = [f"{c[K.PASS]} passed", f"{c[K.FAIL]} failed"]
        if c[K.XFAIL]:
            parts.append(f"{c[K.XFAIL]} known failures")
        if c[K.XPASS]:
            parts.append(f"{c[K.XPASS]} known failures now passing")
        if c[K.UNTESTED]:
            parts.append(f"{len(self.untested())} op(s) untested")
        parts.append(f"{c[K.NA]} not applicable")
        return f"{self.device}: {ops} ops, " + ", ".join(parts) + f" in {self.seconds:.1f}s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device, "family": self.family, "meta": self.meta,
            "seconds": round(self.seconds, 3),
            "summary": self.counts(), "ok": self.ok(), "ok_strict": self.ok(strict=True),
            "checks": {c: K.CHECK_DOCS[c] for c in self.checks},
            "device_checks": {c: K.DEVICE_CHECKS[c] for c in self.device_results},
            "device_results": {c: _result(r) for c, r in self.device_results.items()},
            "ops": {op: {**self.ops.get(op, {}), "results": {c: _result(r) for c, r in row.items()}}
                    for op, row in self.results.items()},
            "kernels": self.kernels,
            "tolerances": table_rows(),
            "known_failures": self.known.to_dict() if self.known else None,
            "stale_known_failures": self.stale, "known_failure_problems": self.known_problems,
        }


def _round(x: Any, digits: int = 4) -> Any:
    if isinstance(x, float) and x == x and x not in (float("inf"), float("-inf")) and x != 0:
        return float(f"{x:.{digits}g}")
    return x


def _result(r: K.CheckResult) -> dict[str, Any]:
    """A result for the JSON file: without the op and check (they are its keys), numbers rounded, and
    without empty fields (no ``message``, ``failures``, ``repro``, ``known``, ``notes``: none)."""
    d = r.to_dict()
    del d["op"], d["check"]
    d["worst"], d["max_abs"], d["seconds"] = _round(r.worst), _round(r.max_abs), round(r.seconds, 4)
    return {k: v for k, v in d.items() if v not in (None, "", []) or k in ("status", "cases")}


def devices_of(target: str) -> list[str]:
    """``"opencl:0"`` -> ``["opencl:0"]``; a family ``"opencl"`` -> its usable devices."""
    import xpgrad as xg

    if ":" in target or target == "cpu":
        return [xg.get_backend(target).device]
    all_devices = xg.devices()
    found = [d for d in all_devices if xg.get_backend(d).family == target]
    if not found:
        xg.get_backend(f"{target}:0")  # raises the DeviceError that says why
        raise xg.DeviceError(f"no usable {target!r} device here (devices: {', '.join(all_devices)})")
    return found


def _known_for(known: Any, family: str, backend: Any = None) -> KnownFailures | None:
    """``"auto"``: the backend's own ``known_failures`` (a path or a mapping), else the built-in list."""
    from .known import from_mapping

    if known is None or known is False:
        return None
    if isinstance(known, KnownFailures):
        return known
    if isinstance(known, str) and known == "auto":
        own = getattr(backend, "known_failures", None)
        if isinstance(own, dict):
            return from_mapping(own, f"{type(backend).__name__}.known_failures")
        if isinstance(own, (str, Path)):
            return load(Path(own))
        return builtin(family)
    if isinstance(known, dict):
        return from_mapping(known, "(given to run())")
    return load(Path(known))


def apply_known(known: KnownFailures | None, op: str, row: dict[str, K.CheckResult]) -> dict[str, str] | None:
    """Mark ``row``'s listed failures ``xfail`` and listed passes ``xpass``; return a stale ``"*"`` entry."""
    if known is None or op not in known.entries:
        return None
    any_failed = False
    for check, r in row.items():
        reason = known.reason(op, check)
        if reason is None:
            continue
        r.known = reason
        if r.status == K.FAIL:
            r.status = K.XFAIL
            any_failed = True
        elif r.status == K.PASS and known.explicit(op, check):
            r.status = K.XPASS
            r.message = f"known failure now passes: remove it from {known.source} ({reason})"
    if "*" in known.entries[op] and not any_failed:
        return {"op": op, "check": "*", "reason": known.entries[op]["*"],
                "message": f"known failure now passes: remove [{op}] \"*\" from {known.source}"}
    return None


def known_problems(known: KnownFailures | None, device: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    """Entries of ``known`` that name no op, or no check of their op, among ``rows``."""
    out: list[str] = []
    if known is None:
        return out
    for op, entry in known.entries.items():
        if op not in rows:
            out.append(f"{known.source}: [{op}] names no op checked on {device}")
            continue
        for check in entry:
            if check != "*" and check not in rows[op]:
                valid = ", ".join(rows[op]) or "none"
                out.append(f"{known.source}: {op}.{check} is not a check of {op} here (checks: {valid})")
    return out


def _meta(device: str, seed: int, ctx: K.Context) -> dict[str, Any]:
    import numpy as np

    import xpgrad as xg

    b = ctx.b
    prof = getattr(b, "profile", None)
    describe = getattr(prof, "describe", None)
    try:
        prof_text = describe() if callable(describe) else (repr(prof) if prof is not None else None)
    except Exception as exc:
        prof_text = f"(describe() raised {type(exc).__name__}: {exc})"
    return {
        "xpgrad": xg.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "platform": platform.platform(terse=True), "seed": seed,
        "started": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "backend": f"{type(b).__module__}.{type(b).__name__}",
        "namespace": getattr(b.xp, "__name__", type(b.xp).__name__),
        "array_types": [f"{t.__module__}.{t.__name__}" for t in b.array_types],
        "profile": prof_text, "float64": ctx.f64,
        "transfer_counter": ctx.counter.source if ctx.counter else None,
        "command": None,  # the command line sets it
    }


def _op_info(ctx: K.Context, op: Any) -> dict[str, Any]:
    from ..plugins import report as plugin_report

    plugin = next((p.name for p in plugin_report().plugins.values() if op.name in p.ops), None)
    return {"module": op.__module__, "plugin": plugin or "xpgrad", "samples": len(op.all_samples()),
            "differentiable": op.differentiable, "order": op.order, "broadcasting": op.broadcasting,
            "kind": K.classify(ctx, op) if op.all_samples() else None,
            "kernels": [k.name for k in ctx.op_kernels(op.name)]}


class Suite:
    """The suite on one device, op by op (what :func:`run` and the pytest plugin drive).

    ``op_results(name)`` checks one op (once; cached) and applies the known failures.
    """

    def __init__(self, device: str, *, checks: Iterable[str] | None = None, seed: int = 0,
                 known_failures: Any = "auto") -> None:
        self.t0 = time.perf_counter()
        self.ctx = K.Context(device, seed)
        self.device = self.ctx.device
        self.seed = seed
        selected = tuple(K.CHECKS) if checks is None else tuple(checks)
        bad = [c for c in selected if c not in K.CHECKS and c not in K.DEVICE_CHECKS]
        if bad:
            every = ", ".join(K.CHECKS + tuple(K.DEVICE_CHECKS))
            raise ValueError(f"unknown check(s) {bad}; checks are {every}")
        self.op_checks = tuple(c for c in selected if c in K.CHECKS)
        self.dev_checks = [c for c in selected if c in K.DEVICE_CHECKS] if checks is not None \
            else list(K.DEVICE_CHECKS)
        self.known = _known_for(known_failures, self.ctx.family, self.ctx.b)
        self.results: dict[str, dict[str, K.CheckResult]] = {}
        self.info: dict[str, dict[str, Any]] = {}
        self.stats: dict[tuple[str, str], dict[str, Any]] = {}
        self.stale: list[dict[str, str]] = []
        self._device: dict[str, K.CheckResult] | None = None

    def device_results(self) -> dict[str, K.CheckResult]:
        if self._device is None:
            self._device = {c: r for c, r in K.check_device(self.ctx).items() if c in self.dev_checks}
            stale = apply_known(self.known, DEVICE_ROW, self._device)
            if stale:
                self.stale.append(stale)
        return self._device

    def op_results(self, name: str) -> dict[str, K.CheckResult]:
        if name not in self.results:
            import xpgrad as xg

            op = xg.get_op(name)
            per: dict[int, Any] = {}
            row = K.check_op(self.ctx, op, self.op_checks, per)
            for k in self.ctx.op_kernels(name):
                if id(k.forward) in per:
                    self.stats[(name, k.name + "\x00" + k.plugin)] = per[id(k.forward)]
            stale = apply_known(self.known, name, row)
            if stale:
                self.stale.append(stale)
            self.results[name] = row
            self.info[name] = _op_info(self.ctx, op)
        return self.results[name]

    def applicable(self, name: str) -> list[str]:
        """The checks that can apply to op ``name`` here (``n/a`` ones may still turn up when run)."""
        import xpgrad as xg

        op = xg.get_op(name)
        return [c for c in self.op_checks if K.applicable(op, c, self.ctx)]

    def report(self) -> Report:
        """The report of everything checked so far."""
        import xpgrad as xg

        ctx = self.ctx
        table = xg.registered_ops()
        kernels = []
        for k in ctx.kernels:
            if k.op not in self.results:
                continue
            st = self.stats.get((k.op, k.name + "\x00" + k.plugin), {})
            kres = self.results[k.op].get("kernels")
            mine = [f for f in (kres.failures if kres else []) if f.startswith(f"kernel {k.name!r}")]
            status = None
            if kres is not None:
                status = K.FAIL if mine else (K.PASS if st.get("cases") else K.NA)
                if status == K.FAIL and kres.status == K.XFAIL:
                    status = K.XFAIL
            kernels.append({
                "op": k.op, "name": k.name, "plugin": k.plugin,
                "forward": f"{getattr(k.forward, '__module__', '?')}."
                           f"{getattr(k.forward, '__qualname__', '?')}",
                "runs_now": op_kernel_is(table[k.op], ctx.b, k.forward) if k.op in table else False,
                "supports": k.supports is not None, "cost": k.cost is not None,
                "cases": st.get("cases", 0), "runs_through_op": st.get("runs", 0),
                "cost_model_choice": st.get("cost_model", 0), "unsupported": st.get("unsupported", 0),
                "worst": st.get("worst"), "status": status, "failures": mine,
            })
        dev = self.device_results()
        rows: dict[str, Any] = {**self.results, DEVICE_ROW: dev}
        report = Report(self.device, ctx.family, _meta(self.device, self.seed, ctx), list(self.op_checks),
                        dict(sorted(self.results.items())), dev, dict(sorted(self.info.items())), kernels,
                        known=self.known, stale=list(self.stale),
                        known_problems=known_problems(self.known, self.device, rows)
                        if len(self.results) == len(table) else
                        [p for p in known_problems(self.known, self.device, rows) if "names no op" not in p])
        report.seconds = time.perf_counter() - self.t0
        report.meta["seconds"] = round(report.seconds, 2)
        return report


def run(device: str, *, ops: Iterable[str] | None = None, checks: Iterable[str] | None = None, seed: int = 0,
        known_failures: Any = "auto", progress: Callable[[str, int], None] | None = None) -> Report:
    """Check every registered op (or ``ops``) on ``device``; return the :class:`Report`.

    ``known_failures``: ``"auto"`` (the backend's ``known_failures`` attribute, a path or a mapping, if
    it has one; else the built-in list of its family, if any), a path to a TOML/JSON file, a mapping
    ``{op: {check: reason}}``, or ``None``.
    ``progress(op_name, new_failures)`` is called after each op.

    >>> r = run("cpu", ops=["exp"], checks=["forward32", "jvp"])
    >>> r.results["exp"]["forward32"].status, r.ok()
    ('pass', True)
    """
    import xpgrad as xg

    table = xg.registered_ops()
    names = sorted(table) if ops is None else list(dict.fromkeys(ops))
    unknown = [n for n in names if n not in table]
    if unknown:
        raise xg.RegistryError(f"no op named {', '.join(map(repr, unknown))} is registered "
                               f"(registered: {len(table)} ops; see xpgrad.registered_ops())")
    suite = Suite(device, checks=checks, seed=seed, known_failures=known_failures)
    dev = suite.device_results()
    if progress is not None:
        progress("(device)", sum(r.failed for r in dev.values()))
    for name in names:
        row = suite.op_results(name)
        if progress is not None:
            progress(name, sum(r.failed for r in row.values()))
    return suite.report()


def op_kernel_is(op: Any, backend: Any, fwd: Any) -> bool:
    return bool(op.kernels) and op.kernels.get(backend) is fwd


def run_target(target: str, **kwargs: Any) -> list[Report]:
    """:func:`run` on one device (``"opencl:0"``) or every usable device of a family (``"opencl"``)."""
    return [run(d, **kwargs) for d in devices_of(target)]
