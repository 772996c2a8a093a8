"""Known failures: the documented gaps a backend ships with, like an xfail list.

A known-failures file maps op -> check -> reason, in TOML or JSON::

    # known-failures.toml of my_chip
    [conv2d]
    edge = "batch-0 convolutions are not supported by the bitstream yet (issue #12)"

    [getitem]
    "*" = "boolean masks read the selected count back to the host"    # every check of the op

    ["(device)"]
    profile = "link_latency is not calibrated yet"

``{"conv2d": {"edge": "..."}}`` is the same file in JSON. Reasons are required:
a gap without a reason is not documented. A listed check that fails is reported
as ``xfail`` with its reason and does not fail the run; a listed check that
passes is reported as ``xpass``: *known failure now passes: remove it* (a
failure of the run with ``--strict``). Entries naming an op or a check that does
not exist are reported too.

Which list applies when none is named (``--known-failures`` or ``run(known_failures=...)``):
the backend's own, if its Backend has a ``known_failures`` attribute (a path to
the file, or the mapping itself) — how a vendor ships documented gaps with the
backend — else the built-in list of its family (:data:`BUILTIN`), if any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Any

__all__ = ["KnownFailures", "load", "builtin", "BUILTIN", "DEVICE_ROW"]

DEVICE_ROW = "(device)"  # the row of device-level checks (profile)

#: Known failures of the built-in families (op -> check -> reason). Keep each reason precise:
#: it is what a user reads in the report.
BUILTIN: dict[str, dict[str, dict[str, str]]] = {
    "opencl": {
        # No OpenCL kernel yet: the namespace runs these on the host (counted by fallback_counts()).
        **{op: {"residency": f"{what} has no OpenCL kernel yet: it runs on the host through the "
                             "namespace's fallback (array_api_compat.numpy)"}
           for op, what in [("sort", "sort"), ("argsort", "argsort"), ("searchsorted", "searchsorted"),
                            ("isin", "isin"), ("cholesky", "linalg.cholesky"), ("det", "linalg.det"),
                            ("slogdet", "linalg.slogdet"), ("inv", "linalg.inv"), ("solve", "linalg.solve"),
                            ("solve_triangular", "linalg.solve"), ("eigh", "linalg.eigh"),
                            ("eigvalsh", "linalg.eigvalsh"), ("svd", "linalg.svd"),
                            ("svdvals", "linalg.svdvals"), ("qr", "linalg.qr"), ("pinv", "linalg.pinv"),
                            ("matrix_rank", "linalg.svdvals"), ("adjugate", "linalg.svd"),
                            ("matrix_norm", "linalg.svdvals (ord nuc, 2, -2)"),
                            ("matrix_power", "linalg.inv (negative powers)"),
                            ("lu", "linalg.solve (in its backward)")]},
        # The size of the result depends on the data, so it must be read back before allocating.
        **{op: {"residency": "the result's shape depends on the values (data-dependent output size): "
                             "the size is read back to the host, and the kernel is the host fallback"}
           for op in ("nonzero", "unique_all", "unique_counts", "unique_inverse", "unique_values", "repeat")},
        # Padé degree, scaling and iteration counts are chosen from norms of the data.
        **{op: {"residency": "chooses its Padé degree / scaling / iteration count from norms of the data "
                             "(scalars read back) and calls linalg.solve/inv, which have no OpenCL kernel"}
           for op in ("matrix_exp", "matrix_log", "matrix_sqrt")},
    },
    "fpga": {
        **{op: {"residency": "the systolic array multiplies real numbers: complex products (the complex "
                             "samples) run on the host"} for op in ("matmul", "linear", "affine")},
        **{op: {"residency": "chooses its Padé degree / scaling / iteration count from norms of the data: "
                             "scalars are read back to the host"}
           for op in ("matrix_exp", "matrix_log", "matrix_sqrt")},
    },
}


@dataclass
class KnownFailures:
    """Parsed known failures: ``entries[op][check] = reason`` (check ``"*"``: every check of the op)."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    source: str = ""

    def reason(self, op: str, check: str) -> str | None:
        row = self.entries.get(op)
        if not row:
            return None
        return row.get(check, row.get("*"))

    def explicit(self, op: str, check: str) -> bool:
        return check in self.entries.get(op, {})

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "entries": self.entries}


def _parse(text: str, name: str) -> Any:
    if name.endswith(".json"):
        return json.loads(text)
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            if text.lstrip().startswith("{"):
                return json.loads(text)
            raise ValueError(f"{name}: reading TOML needs Python 3.11 or the tomli package; "
                             "write the file as JSON instead") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        raise


def from_mapping(data: Any, source: str) -> KnownFailures:
    """Validate ``{op: {check: reason}}``; raise ValueError naming the bad entry."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: a known-failures file maps op names to tables of check = reason")
    entries: dict[str, dict[str, str]] = {}
    for op, row in data.items():
        if not isinstance(row, dict):
            raise ValueError(f"{source}: [{op}] must be a table of check = \"reason\", got {row!r}")
        for check, reason in row.items():
            if not isinstance(reason, str) or not reason.strip():
                raise ValueError(f"{source}: {op}.{check}: the reason must be a non-empty string "
                                 "(say why it fails and what would fix it)")
        entries[str(op)] = {str(c): r.strip() for c, r in row.items()}
    return KnownFailures(entries, source)


def load(path: str | Path) -> KnownFailures:
    """Read a known-failures file (``.toml`` or ``.json``)."""
    p = Path(path)
    return from_mapping(_parse(p.read_text(encoding="utf-8"), p.name), str(p))


def builtin(family: str) -> KnownFailures | None:
    """The built-in known failures of ``family``, if it has any."""
    if family not in BUILTIN:
        return None
    return from_mapping(BUILTIN[family], f"built-in known failures of the {family!r} family "
                                         "(xpgrad.conformance.known.BUILTIN)")
