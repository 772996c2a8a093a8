"""Reports: the terminal summary, and report.md, report.html, report.json and junit.xml in a directory.

Markdown, HTML and JUnit are all rendered from the JSON data
(:meth:`Report.to_dict`), so the four files always say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
import html as _html
import json
from pathlib import Path
import re
from typing import Any
from xml.sax.saxutils import quoteattr

__all__ = ["write_reports", "render_markdown", "render_html", "render_junit", "terminal_summary", "slug"]

_STATUS_ORDER = ("pass", "fail", "xfail", "xpass", "untested", "n/a")
_MD_SYMBOL = {"pass": "✓", "fail": "✗ **FAIL**", "xfail": "✗ known", "xpass": "✓ **XPASS**",
              "untested": "**UNTESTED**", "n/a": "–"}
_TERM = {"pass": "ok", "fail": "FAIL", "xfail": "xf", "xpass": "XPAS", "untested": "UNT", "n/a": "-"}
_SHORT = {"forward32": "fw32", "forward64": "fw64", "dtypes": "dtyp", "broadcast": "bcst", "edge": "edge",
          "layout": "layt", "jvp": "jvp", "vjp": "vjp", "order2": "ord2", "nondiff": "nodf",
          "kernels": "kern", "residency": "resd", "cost": "cost", "profile": "prof"}
_NOTE = ("The worst error of a check is its largest absolute error over every case; in parentheses, the "
         "largest error as a fraction of its bound in the tolerance table (1 = at the bound). `–`: the check "
         "does not apply to the op (report.json and the HTML page's tooltips say why).")


def slug(device: str) -> str:
    """A file name for a device: ``opencl:0`` -> ``opencl-0``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", device)


def _err(r: dict[str, Any]) -> str:
    a, w = r.get("max_abs"), r.get("worst")
    if a is None and w is None:
        return ""
    if a is not None and w is not None and w != float("inf"):
        return f"{a:.1e} ({w:.2g})" if a else "0"
    if a is not None:
        return f"{a:.1e}" if a != float("inf") else "inf"
    return ""


def _rows(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return list(data["ops"].items())


def _untested(data: dict[str, Any]) -> list[str]:
    return [op for op, row in _rows(data) if any(r["status"] == "untested" for r in row["results"].values())]


def _issues(data: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    bad = ("fail", "xfail", "xpass")
    out = [("(device)", c, r) for c, r in data["device_results"].items() if r["status"] in bad]
    for op, row in _rows(data):
        for c, r in row["results"].items():
            if r["status"] in ("fail", "xfail", "xpass"):
                out.append((op, c, r))
    order = {"fail": 0, "xpass": 1, "xfail": 2}
    return sorted(out, key=lambda t: order[t[2]["status"]])


# ---------------------------------------------------------------- terminal


def terminal_summary(data: dict[str, Any], *, verbose: bool = False, paths: Iterable[str] = ()) -> str:
    """The table printed at the end of a run: per check, how many ops pass, fail... and the failures."""
    checks = list(data["checks"])
    lines = [f"xpgrad conformance on {data['device']} ({data['meta']['backend']}): "
             f"{len(data['ops'])} ops, seed {data['meta']['seed']}, {data['seconds']:.1f}s", ""]
    cols = ("pass", "FAIL", "known", "xpass", "untested", "n/a")
    head = f"{'check':<11}" + "".join(f"{s:>9}" for s in cols) + "   worst (x tol)"
    lines += [head, "-" * len(head)]
    for c in list(data["device_results"]) + checks:
        rs = [(op, row["results"][c]) for op, row in _rows(data) if c in row["results"]] if c in checks \
            else [("(device)", data["device_results"][c])]
        n = {s: sum(r["status"] == s for _, r in rs) for s in _STATUS_ORDER}
        worst = max(((r["worst"], op) for op, r in rs if r.get("worst") is not None and r["status"] != "n/a"),
                    default=None)
        w = f"{worst[0]:.2g} ({worst[1]})" if worst and worst[0] != float("inf") else ("inf" if worst else "")
        lines.append(f"{c:<11}" + "".join(f"{n[s]:>9}" for s in _STATUS_ORDER) + f"   {w}")
    if verbose:
        lines += ["", f"{'op':<20}" + "".join(f"{_SHORT.get(c, c[:4]):>5}" for c in checks)]
        for op, row in _rows(data):
            lines.append(f"{op[:20]:<20}" + "".join(f"{_TERM[row['results'][c]['status']]:>5}"
                                                     if c in row["results"] else f"{'':>5}" for c in checks))
    issues = _issues(data)
    if issues:
        lines += ["", "failures and known failures:"]
        for op, c, r in issues:
            tag = {"fail": "FAIL ", "xfail": "known", "xpass": "XPASS"}[r["status"]]
            msg = r.get("message", "") if r["status"] != "xfail" else f"{r.get('known', '')}"
            lines.append(f"  {tag} {op} / {c}: {msg[:300]}")
    for s in data.get("stale_known_failures", []):
        lines.append(f"  XPASS {s['op']} / *: {s['message']}")
    for p in data.get("known_failure_problems", []):
        lines.append(f"  known-failures file: {p}")
    s = data["summary"]
    untested = _untested(data)
    lines += ["", f"{data['device']}: {s['pass']} passed, {s['fail']} failed, {s['xfail']} known failures, "
                  f"{s['xpass']} known failures now passing, {len(untested)} untested op(s)"
                  + (f" ({', '.join(untested)})" if untested else "") + f", {s['n/a']} not applicable"]
    for p in paths:
        lines.append(f"report: {p}")
    return "\n".join(lines)


# ---------------------------------------------------------------- markdown


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return ""
    sym = _MD_SYMBOL[r["status"]]
    err = _err(r) if r["status"] != "n/a" else ""
    return f"{sym} {err}".strip()


def render_markdown(data: dict[str, Any]) -> str:
    m, s = data["meta"], data["summary"]
    checks = list(data["checks"])
    out = [f"# xpgrad conformance report: `{data['device']}`", ""]
    verdict = "**all checks pass**" if data["ok"] else "**unexpected failures**"
    out += [f"{verdict}: {s['pass']} passed, {s['fail']} failed, {s['xfail']} known failures, "
            f"{s['xpass']} known failures now passing, {s['untested']} untested, {s['n/a']} not applicable "
            f"({len(data['ops'])} ops, {data['seconds']:.1f} s).", ""]
    out += ["| | |", "|---|---|"]
    for k in ("backend", "namespace", "profile", "float64", "transfer_counter", "xpgrad", "numpy", "python",
              "platform", "seed", "started", "command"):
        if m.get(k) is not None:
            out.append(f"| {k.replace('_', ' ')} | {_md_escape(m[k])} |")
    kf = data.get("known_failures")
    out.append(f"| known failures | {_md_escape(kf['source']) if kf else 'none'} |")
    out += ["", "## Device", "", "| check | status | detail |", "|---|---|---|"]
    for c, r in data["device_results"].items():
        detail = r.get("message", "") if r["status"] != "pass" else "; ".join(r.get("notes", []))
        out.append(f"| {c} | {_md_cell(r)} | {_md_escape(detail)} |")
    out += ["", "## Ops", "", _NOTE, "",
            "| op | " + " | ".join(checks) + " |", "|---|" + "---|" * len(checks)]
    for op, row in _rows(data):
        name = f"`{op}`" + (f" ({row['plugin']})" if row.get("plugin") not in (None, "xpgrad") else "")
        out.append(f"| {name} | " + " | ".join(_md_cell(row["results"].get(c)) for c in checks) + " |")
    if data["kernels"]:
        out += ["", "## Kernels", "",
                "Every kernel registered for the family, run on the samples (float32, float64) and on "
                "scaled-up shapes, against the op's generic forward on the same device. *Runs now*: what "
                "`apply` runs for the op on this device (`op.kernels[backend]`); a cost-model dispatcher "
                "will say per call.", "",
                "| op | kernel | from | runs now | supports | cost | cases | run through the op "
                "| cost model's choice | unsupported | status |", "|---" * 11 + "|"]
        for k in data["kernels"]:
            st = _MD_SYMBOL.get(k["status"] or "n/a", "")
            yes = {f: "yes" if k[f] else "" for f in ("runs_now", "supports", "cost")}
            out.append(f"| `{k['op']}` | {k['name']} | {_md_escape(k['plugin'])} | {yes['runs_now']} "
                       f"| {yes['supports']} | {yes['cost']} | {k['cases']} "
                       f"| {k['runs_through_op']} | {k['cost_model_choice']} | {k['unsupported']} | {st} |")
    issues = _issues(data)
    out += ["", "## Failures", ""]
    if not issues and not data.get("stale_known_failures"):
        out.append("None.")
    for op, c, r in issues:
        title = {"fail": "FAIL", "xfail": "known failure", "xpass": "known failure now passes"}[r["status"]]
        out += [f"### `{op}` / {c}: {title}", ""]
        if r.get("known"):
            out += [f"Known failure: {r.get('known', '')}", ""]
        if r["status"] == "xpass":
            out += [r.get("message", ""), ""]
            continue
        out += [f"{r['cases']} case(s) ran; worst error {_err(r) or 'n/a'}.", ""]
        out += [f"- {_md_escape(f)}" for f in r.get("failures", [])]
        if r.get("repro"):
            out += ["", "Reproduce:", "", "```python", r["repro"].rstrip(), "```"]
        out.append("")
    for st in data.get("stale_known_failures", []):
        out += [f"### `{st['op']}` / *: known failure now passes", "", st["message"], ""]
    if data.get("known_failure_problems"):
        out += ["", "## Problems in the known-failures file", ""]
        out += [f"- {p}" for p in data["known_failure_problems"]]
    out += ["", "## Untested ops", ""]
    out += [f"- `{op}` ({data['ops'][op].get('plugin')}): declares no sample inputs"
            for op in _untested(data)] or ["None."]
    out += ["", "## Checks", "", "| check | what it checks |", "|---|---|"]
    out += [f"| {c} | {_md_escape(d)} |" for c, d in {**data["device_checks"], **data["checks"]}.items()]
    out += ["", "## Tolerances", "",
            "`|got − expected| <= atol + rtol·|expected|`, element by element, or with `max |expected|` for "
            "norm-wise rows (`xpgrad.conformance.tolerances.TOLERANCES`; `*`: every op not listed).", "",
            "| kind | op | rtol | atol | bound |", "|---|---|---|---|---|"]
    out += [f"| {t['kind']} | {t['op']} | {t['rtol']:g} | {t['atol']:g} | "
            f"{'norm-wise' if t.get('norm') else ''} |" for t in data["tolerances"]]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- html

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; position: sticky; top: 0; }
td.pass { background: #e6f4e6; } td.fail { background: #f8d0d0; font-weight: bold; }
td.xfail { background: #fdf0c8; } td.xpass { background: #d6e4f8; font-weight: bold; }
td.untested { background: #eadcf5; font-weight: bold; } td.na { color: #999; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 12px; }
code { font-size: 12px; } .ok { color: #186a18; } .bad { color: #a01010; }
"""


def _h(text: Any) -> str:
    return _html.escape(str(text))


def _html_cell(op: str, c: str, r: dict[str, Any] | None) -> str:
    if r is None:
        return "<td></td>"
    cls = "na" if r["status"] == "n/a" else r["status"]
    sym = {"pass": "✓", "fail": "✗ FAIL", "xfail": "✗ known", "xpass": "✓ XPASS", "untested": "UNTESTED",
           "n/a": "–"}[r["status"]]
    err = _err(r) if r["status"] != "n/a" else ""
    tip = r.get("known", "") or r.get("message", "") or "; ".join(r.get("notes", []))
    link = f'<a href="#{_h(op)}-{_h(c)}">{sym}</a>' if r["status"] in ("fail", "xfail", "xpass") else sym
    return f'<td class="{cls}" title="{_h(tip)}">{link} {_h(err)}</td>'


def render_html(data: dict[str, Any]) -> str:
    m, s = data["meta"], data["summary"]
    checks = list(data["checks"])
    cls = "ok" if data["ok"] else "bad"
    verdict = "all checks pass" if data["ok"] else "unexpected failures"
    o = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         f"<title>xpgrad conformance: {_h(data['device'])}</title><style>{_CSS}</style></head><body>",
         f"<h1>xpgrad conformance report: <code>{_h(data['device'])}</code></h1>",
         f'<p><b class="{cls}">{verdict}</b>: {s["pass"]} passed, {s["fail"]} failed, '
         f"{s['xfail']} known failures, {s['xpass']} known failures now passing, {s['untested']} untested, "
         f"{s['n/a']} not applicable "
         f"({len(data['ops'])} ops, {data['seconds']:.1f} s).</p>", "<table>"]
    for k in ("backend", "namespace", "profile", "float64", "transfer_counter", "xpgrad", "numpy", "python",
              "platform", "seed", "started", "command"):
        if m.get(k) is not None:
            o.append(f"<tr><th>{_h(k.replace('_', ' '))}</th><td>{_h(m[k])}</td></tr>")
    kf = data.get("known_failures")
    o.append(f"<tr><th>known failures</th><td>{_h(kf['source']) if kf else 'none'}</td></tr></table>")
    o += ["<h2>Device</h2><table><tr><th>check</th><th>status</th><th>detail</th></tr>"]
    for c, r in data["device_results"].items():
        detail = r.get("message", "") if r["status"] != "pass" else "; ".join(r.get("notes", []))
        o.append(f"<tr><td>{_h(c)}</td>{_html_cell('(device)', c, r)}<td>{_h(detail)}</td></tr>")
    o += ["</table>", f"<h2>Ops</h2><p>{_h(_NOTE)}</p><table><tr><th>op</th>"
          + "".join(f'<th title="{_h(data["checks"][c])}">{_h(c)}</th>' for c in checks) + "</tr>"]
    for op, row in _rows(data):
        plug = f" <small>({_h(row['plugin'])})</small>" if row.get("plugin") not in (None, "xpgrad") else ""
        o.append(f"<tr><th><code>{_h(op)}</code>{plug}</th>"
                 + "".join(_html_cell(op, c, row["results"].get(c)) for c in checks) + "</tr>")
    o.append("</table>")
    if data["kernels"]:
        heads = ("op", "kernel", "from", "runs now", "supports", "cost", "cases", "run through the op",
                 "cost model's choice", "unsupported", "status")
        o += ["<h2>Kernels</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>"]
        for k in data["kernels"]:
            st = k["status"] or "n/a"
            yes = {f: "yes" if k[f] else "" for f in ("runs_now", "supports", "cost")}
            o.append(f"<tr><td><code>{_h(k['op'])}</code></td><td>{_h(k['name'])}</td><td>{_h(k['plugin'])}</td>"
                     f"<td>{yes['runs_now']}</td><td>{yes['supports']}</td><td>{yes['cost']}</td>"
                     f"<td>{k['cases']}</td><td>{k['runs_through_op']}</td>"
                     f"<td>{k['cost_model_choice']}</td><td>{k['unsupported']}</td>"
                     f'<td class="{"na" if st == "n/a" else st}">{_h(st)}</td></tr>')
        o.append("</table>")
    o.append("<h2>Failures</h2>")
    issues = _issues(data)
    if not issues and not data.get("stale_known_failures"):
        o.append("<p>None.</p>")
    for op, c, r in issues:
        title = {"fail": "FAIL", "xfail": "known failure", "xpass": "known failure now passes"}[r["status"]]
        o.append(f'<h3 id="{_h(op)}-{_h(c)}"><code>{_h(op)}</code> / {_h(c)}: {title}</h3>')
        if r.get("known"):
            o.append(f"<p>Known failure: {_h(r.get('known', ''))}</p>")
        if r["status"] == "xpass":
            o.append(f"<p>{_h(r.get('message', ''))}</p>")
            continue
        o.append(f"<p>{r['cases']} case(s) ran; worst error {_h(_err(r) or 'n/a')}.</p><ul>")
        o += [f"<li>{_h(f)}</li>" for f in r.get("failures", [])]
        o.append("</ul>")
        if r.get("repro"):
            o.append(f"<details open><summary>Reproduce</summary><pre><code>{_h(r['repro'])}</code></pre>"
                     "</details>")
    for st in data.get("stale_known_failures", []):
        o.append(f"<h3><code>{_h(st['op'])}</code> / *: known failure now passes</h3>"
                 f"<p>{_h(st['message'])}</p>")
    if data.get("known_failure_problems"):
        o.append("<h2>Problems in the known-failures file</h2><ul>"
                 + "".join(f"<li>{_h(p)}</li>" for p in data["known_failure_problems"]) + "</ul>")
    untested = _untested(data)
    items = "".join(f"<li><code>{_h(op)}</code> ({_h(data['ops'][op].get('plugin'))}): declares no sample "
                    "inputs</li>" for op in untested)
    o.append("<h2>Untested ops</h2>" + (f"<ul>{items}</ul>" if untested else "<p>None.</p>"))
    o.append("<h2>Checks</h2><table><tr><th>check</th><th>what it checks</th></tr>"
             + "".join(f"<tr><td>{_h(c)}</td><td>{_h(d)}</td></tr>"
                       for c, d in {**data["device_checks"], **data["checks"]}.items()) + "</table>")
    rows = "".join(f"<tr><td>{_h(t['kind'])}</td><td>{_h(t['op'])}</td><td>{t['rtol']:g}</td>"
                   f"<td>{t['atol']:g}</td><td>{'norm-wise' if t.get('norm') else ''}</td></tr>"
                   for t in data["tolerances"])
    o.append("<h2>Tolerances</h2><p><code>|got − expected| &lt;= atol + rtol·|expected|</code>, element by "
             "element, or with <code>max |expected|</code> for norm-wise rows "
             "(<code>xpgrad.conformance.tolerances.TOLERANCES</code>; <code>*</code>: every op not "
             "listed).</p>"
             f"<table><tr><th>kind</th><th>op</th><th>rtol</th><th>atol</th><th>bound</th></tr>{rows}</table>")
    o.append("</body></html>")
    return "\n".join(o) + "\n"


# ---------------------------------------------------------------- junit


def render_junit(data_list: list[dict[str, Any]]) -> str:
    """JUnit XML: one testsuite per device, one testcase per (op, check) that applies."""
    suites, totals = [], {"tests": 0, "failures": 0, "skipped": 0, "time": 0.0}
    for data in data_list:
        dev = data["device"]
        cases, n = [], {"tests": 0, "failures": 0, "skipped": 0}
        rows = [("(device)", data["device_results"])] + [(op, row["results"]) for op, row in _rows(data)]
        for op, results in rows:
            for c, r in results.items():
                if r["status"] == "n/a":
                    continue
                n["tests"] += 1
                attrs = (f'classname={quoteattr(f"xpgrad.conformance.{dev}.{op}")} name={quoteattr(c)} '
                         f'time="{r.get("seconds", 0.0):.3f}"')
                body = ""
                if r["status"] == "fail":
                    n["failures"] += 1
                    text = "\n".join(r.get("failures", []))
                    if r.get("repro"):
                        text += "\n\nReproduce:\n" + r["repro"]
                    msg = quoteattr(r.get("message", "")[:500])
                    body = (f'<failure message={msg} type="ConformanceFailure">'
                            f"{_html.escape(text, quote=False)}</failure>")
                elif r["status"] in ("xfail", "untested"):
                    n["skipped"] += 1
                    msg = (f"known failure: {r.get('known', '')}" if r["status"] == "xfail"
                           else f"UNTESTED: {r.get('message', '')}")
                    body = f"<skipped message={quoteattr(msg[:500])}/>"
                elif r["status"] == "xpass":
                    body = f"<system-out>{_html.escape(r.get('message', ''), quote=False)}</system-out>"
                cases.append(f"    <testcase {attrs}>{body}</testcase>" if body
                             else f"    <testcase {attrs}/>")
        suites.append(f'  <testsuite name={quoteattr(f"xpgrad.conformance[{dev}]")} tests="{n["tests"]}" '
                      f'failures="{n["failures"]}" errors="0" skipped="{n["skipped"]}" '
                      f'time="{data["seconds"]:.3f}" '
                      f'timestamp={quoteattr(data["meta"]["started"])}>\n'
                      f'    <properties><property name="device" value={quoteattr(dev)}/>'
                      f'<property name="seed" value="{data["meta"]["seed"]}"/></properties>\n'
                      + "\n".join(cases) + "\n  </testsuite>")
        for k in n:
            totals[k] += n[k]
        totals["time"] += data["seconds"]
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<testsuites name="xpgrad conformance" tests="{totals["tests"]}" '
            f'failures="{totals["failures"]}" '
            f'errors="0" skipped="{totals["skipped"]}" time="{totals["time"]:.3f}">\n'
            + "\n".join(suites) + "\n</testsuites>\n")


# ---------------------------------------------------------------- files


def _json_default(o: Any) -> Any:
    if isinstance(o, float):
        return None
    return repr(o)


def _clean(o: Any) -> Any:
    """JSON has no inf/nan: write them as strings."""
    if isinstance(o, float) and (o != o or o in (float("inf"), float("-inf"))):
        return str(o)
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def write_reports(reports: Any, directory: str | Path, *, per_device: bool | None = None) -> list[Path]:
    """Write report.md, report.html, report.json and junit.xml for one report; return the paths written.

    For several reports (or ``per_device=True``): one sub-directory per device (``opencl-0/``) with
    the four files, and a ``junit.xml`` of them all in ``directory``.
    """
    reports = list(reports) if isinstance(reports, (list, tuple)) else [reports]
    split = len(reports) > 1 if per_device is None else per_device
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    datas = []
    for r in reports:
        data = r.to_dict()
        datas.append(data)
        d = root / slug(r.device) if split else root
        d.mkdir(parents=True, exist_ok=True)
        files = {"report.json": json.dumps(_clean(data), indent=1, default=_json_default) + "\n",
                 "report.md": render_markdown(data), "report.html": render_html(data)}
        if split:
            files["junit.xml"] = render_junit([data])
        for name, text in files.items():
            (d / name).write_text(text, encoding="utf-8")
            written.append(d / name)
    (root / "junit.xml").write_text(render_junit(datas), encoding="utf-8")
    written.append(root / "junit.xml")
    return written
