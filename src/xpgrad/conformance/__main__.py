"""``python -m xpgrad.conformance --device DEVICE``: run the conformance suite and report, op by op.

Exit status: 0 when every check passed or failed as the known-failures file
says; 1 on an unexpected failure (with ``--strict``, also on a known failure
that now passes, an untested op, or an entry of the known-failures file that
names nothing); 2 when the device or the arguments are not usable.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from .checks import CHECK_DOCS, DEVICE_CHECKS

    p = argparse.ArgumentParser(
        prog="python -m xpgrad.conformance",
        description="Check every registered op and kernel on a device against the CPU reference, "
                    "and report what works.",
        epilog="checks: " + "; ".join(f"{c}: {d}" for c, d in {**DEVICE_CHECKS, **CHECK_DOCS}.items()))
    p.add_argument("--device", required=True,
                   help="a device ('opencl:0', 'fpga:0', 'cpu') or a family ('opencl': every device of it)")
    p.add_argument("--ops", nargs="+", metavar="NAME", help="only these ops (default: every registered op)")
    p.add_argument("--checks", nargs="+", metavar="CHECK", help="only these checks (default: all)")
    p.add_argument("--report", metavar="DIR",
                   help="write report.md, report.html, report.json and junit.xml into DIR "
                        "(one sub-directory per device for a family)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample values and directions (default 0)")
    p.add_argument("--known-failures", metavar="FILE",
                   help="TOML or JSON file of op -> check -> reason (default: the backend's own list, "
                        "its known_failures attribute, else the built-in list of its family, if any)")
    p.add_argument("--no-known-failures", action="store_true", help="ignore every known-failures list")
    p.add_argument("--strict", action="store_true",
                   help="also fail on known failures that now pass, untested ops, and bad entries "
                        "in the known-failures file")
    p.add_argument("-v", "--verbose", action="store_true", help="print the full op x check table")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import xpgrad as xg

    from .progress import Progress
    from .report import terminal_summary, write_reports
    from .runner import devices_of, run

    try:
        devices = devices_of(args.device)
    except xg.XpgradError as exc:
        print(f"xpgrad.conformance: {exc}", file=sys.stderr)
        return 2
    known = None if args.no_known_failures else (args.known_failures or "auto")
    n_ops = len(args.ops) if args.ops else len(xg.registered_ops())
    reports = []
    for device in devices:
        bar = Progress(n_ops + 1, device, enabled=False if args.quiet else None)
        try:
            report = run(device, ops=args.ops, checks=args.checks, seed=args.seed, known_failures=known,
                         progress=bar)
        except (xg.XpgradError, ValueError, OSError) as exc:
            bar.close()
            print(f"xpgrad.conformance: {exc}", file=sys.stderr)
            return 2
        bar.close()
        report.meta["command"] = "python -m xpgrad.conformance " + " ".join(
            sys.argv[1:] if argv is None else argv)
        reports.append(report)
    family = ":" not in args.device and args.device != "cpu"
    paths = ([str(p) for p in write_reports(reports, args.report, per_device=family or None)]
             if args.report else [])
    for i, report in enumerate(reports):
        last = i == len(reports) - 1
        shown = [p for p in paths if p.endswith(("report.md", "report.html"))] if last else []
        shown += [p for p in paths if p.endswith("junit.xml")][-1:] if last else []
        print(terminal_summary(report.to_dict(), verbose=args.verbose, paths=shown))
        print()
    ok = all(r.ok(strict=args.strict) for r in reports)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
