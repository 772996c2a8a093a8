"""``python -m xpgrad info``: what this installation has."""

from __future__ import annotations

import argparse
import sys


def info() -> str:
    import xpgrad

    lines = [f"xpgrad {xpgrad.__version__} (Array API {xpgrad.__array_api_version__})", "devices:"]
    for d in xpgrad.devices():
        b = xpgrad.get_backend(d)
        lines.append(f"  {d:<10} namespace {getattr(b.xp, '__name__', b.xp)}")
    ops = xpgrad.registered_ops()
    diff = sum(op.differentiable for op in ops.values())
    lines.append(f"ops: {len(ops)} registered, {diff} differentiable")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xpgrad", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("info", help="list devices and ops")
    args = parser.parse_args(argv)
    if args.command in (None, "info"):
        print(info())
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
