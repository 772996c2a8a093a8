"""``python -m xpgrad info`` / ``calibrate``: what this installation has, and measuring its devices.

``info``: device families and their devices (with each device's profile),
devices found but unusable and why, plugins and where they come from, plugins
that failed or were skipped and why, what was refused from them, untested ops,
how many kernels each family brings, and the dispatcher's planning level and wisdom.

``calibrate [--device D ...]``: measure each device's profile (GEMM FLOP/s at
several sizes, memory bandwidth, launch latency, host↔device bandwidth, FFT
rate) and store it in the user cache directory, where the cost models find it.
"""

from __future__ import annotations

import argparse
from collections import Counter
import sys
from typing import Any


def _profile(b: Any) -> str:
    p = getattr(b, "profile", None)
    if p is None:
        return ""
    describe = getattr(p, "describe", None)
    try:
        text = describe() if callable(describe) else repr(p)
    except Exception as exc:  # a backend's bug must not hide the rest of the report
        text = f"(profile.describe() failed: {type(exc).__name__}: {exc})"
    return text if len(text) <= 160 else text[:157] + "..."


def _fallbacks(b: Any) -> dict | None:
    """``fallback_counts()`` of the backend, its namespace, or its module or package, if one has it."""
    module = type(b).__module__
    owners = (b, getattr(b, "xp", None), sys.modules.get(module), sys.modules.get(module.rpartition(".")[0]))
    for owner in owners:
        fn = getattr(owner, "fallback_counts", None)
        if callable(fn):
            try:
                counts = fn()
            except Exception:
                return None
            return dict(counts) if not isinstance(counts, int) else {"all ops": counts}
    return None


def info() -> str:
    """The report ``python -m xpgrad info`` prints."""
    import xpgrad
    from xpgrad import dispatch
    from xpgrad.backends import kernels
    from xpgrad.plugins import report

    devices = xpgrad.devices()  # loads every device family
    r = report()
    out = [f"xpgrad {xpgrad.__version__} (Array API {xpgrad.__array_api_version__})", "",
           "device families:"]
    for prefix, fam in r.families.items():
        n = len(fam.devices)
        state = f"{n} device{'s' * (n != 1)}" if fam.state == "loaded" else fam.state
        out.append(f"  {prefix:<10} {state:<14} {fam.description}")
        out.append(f"  {'':<10} {'':<14} from {fam.plugin}")

    out += ["", "devices:"]
    fallbacks: list[str] = []
    for d in devices:
        b = xpgrad.get_backend(d)
        out.append(f"  {d:<10} namespace {getattr(b.xp, '__name__', type(b.xp).__name__)}")
        prof = _profile(b)
        if prof:
            out.append(f"  {'':<10} profile: {prof}")
        fb = _fallbacks(b)
        if fb is not None:
            total = sum(fb.values())
            top = ", ".join(f"{k} {v}" for k, v in Counter(fb).most_common(5) if v)
            fallbacks.append(f"  {d:<10} {total} host fallback{'s' * (total != 1)}"
                             + (f" ({top})" if top else ""))

    unusable = [(d, why) for fam in r.families.values() for d, why in fam.unusable]
    unusable += [(f"{p}:*", fam.error) for p, fam in r.families.items() if fam.error]
    out += ["", "unusable devices:"]
    out += [f"  {d:<10} {why}" if len(d) <= 10 else f"  {d}: {why}" for d, why in unusable] or ["  none"]

    if fallbacks:
        out += ["", "host fallbacks (ops run on the host because the device has no kernel for them):",
                *fallbacks]

    out += ["", "plugins:"]
    for p in r.plugins.values():
        if p.status not in ("loaded", "not built"):
            continue
        dist = f"{p.distribution} {p.version or ''}".strip() if p.distribution else "-"
        where = f"{p.source}: {p.module}" + (f" ({p.path})" if p.path else "")
        gave = ", ".join(x for x in (_count(p.families, "family", "families"), _count(p.ops, "op", "ops"),
                                     _count(p.kernels, "kernel", "kernels")) if x)
        out.append(f"  {p.name:<32} {p.status:<10} {dist}")
        out.append(f"  {'':<32} {where}" + (f"; provides {gave}" if gave else ""))
        if p.status == "not built":
            out.append(f"  {'':<32} {p.reason}")

    failed = r.failed
    out += ["", "failed or skipped plugins:"]
    out += [f"  {p.name} [{p.distribution or '?'} {p.version or ''}] ({p.source}: {p.module}): "
            f"{p.status}: {p.reason}" for p in failed] or ["  none"]

    refused = [pr for pr in r.problems if "untested" not in pr.reason]
    out += ["", "refused from plugins:"]
    out += [f"  {pr}" for pr in refused] or ["  none"]

    out += ["", "untested ops (no sample inputs):"]
    out += [f"  {op} (from {plugin})" for op, plugin in r.untested] or ["  none"]

    ops = xpgrad.registered_ops()
    diff = sum(op.differentiable for op in ops.values())
    registered = {(op, fam, id(fwd)) for op, fam, fwd in kernels()}  # a kernel registered twice counts once
    per_family = Counter(fam for _, fam, _ in registered)
    out += ["", f"ops: {len(ops)} registered, {diff} differentiable; every family runs all of them "
                f"through its Array API namespace, and these through their own kernels:"]
    for fam in sorted(set(per_family) | set(r.families)):
        names = sorted({op for op, f, _ in registered if f == fam})
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        out.append(f"  {fam:<10} {per_family.get(fam, 0)} kernel(s) for {len(names)} op(s)"
                   + (f": {shown}" if names else ""))
    out += ["", f"dispatch: planning level {dispatch.get_level()}; wisdom in {dispatch.wisdom_path()}"]
    return "\n".join(out)


def calibrate(devices: list[str] | None, save: bool = True) -> str:
    """Measure the profile of each device (every device if none is named); the report as text."""
    import xpgrad
    from xpgrad import dispatch

    out = []
    for d in devices or xpgrad.devices():
        b = xpgrad.get_backend(d)
        if b.profile is None or not callable(getattr(b.profile, "calibrate", None)):
            out.append(f"{d}: nothing to measure (its profile is computed, not measured: {_describe(b)})")
            continue
        r = dispatch.calibrate(d, save=save)
        out.append(f"{d}: measured in {r['seconds']:.1f} s" + (f", stored in {r['file']}" if save else ""))
        for k, v in sorted(r["measured"].items()):
            out.append(f"  {k:<20} {_figure(k, v)}")
        describe = getattr(b.profile, "describe", None)
        if callable(describe):
            out.append(f"  {describe()}")
    return "\n".join(out)


def _describe(b: Any) -> str:
    describe = getattr(b.profile, "describe", None)
    return describe() if callable(describe) else "none"


def _figure(name: str, v: float) -> str:
    if "bandwidth" in name:
        return f"{v / 1e9:.2f} GB/s"
    if "flops" in name:
        return f"{v / 1e9:.2f} GFLOP/s"
    if "latency" in name or "overhead" in name:
        return f"{v * 1e6:.2f} µs"
    return f"{v:.4g}"


def _count(items: list, one: str, many: str) -> str:
    return f"{len(items)} {one if len(items) == 1 else many}" if items else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpgrad", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="list device families, devices, plugins, refusals and untested ops")
    cal = sub.add_parser("calibrate", help="measure device profiles for the cost models and store them")
    cal.add_argument("--device", action="append", help="a device to calibrate (repeatable; default: all)")
    cal.add_argument("--no-save", action="store_true", help="measure and print, but do not store")
    args = parser.parse_args(argv)
    if args.command in (None, "info"):
        print(info())
        return 0
    if args.command == "calibrate":
        from xpgrad.core.errors import DeviceError

        try:
            print(calibrate(args.device, save=not args.no_save))
        except DeviceError as exc:
            print(f"xpgrad calibrate: {exc}", file=sys.stderr)
            return 2
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
