"""xpgrad.viz: the DOT text of hand-countable graphs, gradient norms known by hand, pictures where
Graphviz is installed, and clear errors where it is not.

The DOT text is parsed back here (the node and edge statements viz emits), so the structure tests run
everywhere; the tests that need Graphviz's ``dot`` program skip, with the reason, where it is missing.
"""

import doctest
import importlib.util
import json
import math
import pathlib
import re
import shutil
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad import nn, viz
from xpgrad.core.errors import (BackwardError, DTypeError, GraphFreedError, NotDifferentiableError,
                                XpgradError)

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOT = shutil.which("dot")
needs_dot = pytest.mark.skipif(DOT is None, reason="Graphviz's dot program is not installed "
                               "(apt install graphviz); the DOT-text tests still run")
RED, GREY = "#e31a1c", "#c8c8c8"


# ---------------------------------------------------------------------------
# reading back the DOT text
# ---------------------------------------------------------------------------

_ATTR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            nxt = s[i + 1]
            out.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse(source):
    """``({id: attrs}, [(src, dst, attrs)])`` of the node and edge statements, legend left out."""
    assert source.startswith("digraph xpgrad {\n") and source.endswith("\n}\n")
    nodes, edges = {}, []
    for line in source.split("\n")[1:-2]:      # Graphviz ends lines at \n only
        m = re.fullmatch(r"\s*(\w+) -> (\w+)(?: \[(.*)\])?;", line)
        if m:
            edges.append((m[1], m[2], {k: unescape(v) for k, v in _ATTR.findall(m[3] or "")}))
            continue
        m = re.fullmatch(r"\s*(\w+) \[(.*)\];", line)
        if m and m[1] not in ("graph", "node", "edge") and not m[1].startswith("legend"):
            nodes[m[1]] = {k: unescape(v) for k, v in _ATTR.findall(m[2])}
            # every attribute of the statement was consumed: nothing unquoted or malformed is left
            assert _ATTR.sub("", m[2]).replace(",", "").strip() == "", line
    return nodes, edges


def by_label(g, first_line):
    found = [n for n in g.nodes if n.label.splitlines()[0] == first_line]
    assert len(found) == 1, [n.label for n in g.nodes]
    return found[0]


def leaf(values, device="cpu", dtype=None):
    return xg.asarray(values, device=device, dtype=dtype, requires_grad=True)


# ---------------------------------------------------------------------------
# structure
# ---------------------------------------------------------------------------

def test_product_sum_has_four_nodes_and_three_edges():
    x, w = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    y = (x * w).sum()
    g = viz.graph(y, params={"x": x, "w": w})
    assert [n.kind for n in g.nodes] == ["op", "op", "leaf", "leaf"]
    s, m, lx, lw = g.nodes
    assert (s.op, m.op, lx.name, lw.name) == ("sum", "multiply", "x", "w")
    assert {(e.src, e.dst, e.input) for e in g.edges} == {(m.id, s.id, 0), (lx.id, m.id, 0), (lw.id, m.id, 1)}
    assert s.outputs == ((0, 0),) and m.outputs == () and s.shapes == ((),) and m.shapes == ((3,),)
    assert m.label.splitlines()[1] == "(3,) float64 cpu"
    assert lx.label.splitlines() == ["x", "(3,) float64 cpu", "requires grad"]
    assert repr(g) == "<Graph: 4 nodes (2 ops, 2 leaves, 0 constants), 3 edges>"

    nodes, edges = parse(g.source)              # the DOT text says the same
    assert sorted(nodes) == sorted(n.id for n in g.nodes)
    assert sorted((a, b) for a, b, _ in edges) == sorted((e.src, e.dst) for e in g.edges)
    assert nodes[s.id]["label"] == "sum\n() float64 cpu\noutput 0"
    assert nodes[s.id]["penwidth"] == "2.5" and "penwidth" not in nodes[m.id]   # the output stands out
    assert str(g) == g.source


def test_constants_are_grey_boxes_or_folded_and_python_numbers_fold():
    x = leaf([1.0, 2.0])
    c = xg.asarray([[3.0, 4.0]])
    g = viz.graph((3 * (x * c)).sum())
    assert [n.kind for n in g.nodes] == ["op", "op", "op", "leaf", "constant"]
    const = g.nodes[-1]
    assert const.label == "constant\n(1, 2) float64 cpu" and not const.requires_grad
    assert g.nodes[1].label.splitlines()[0] == "multiply(3, ·)"       # the Python 3 is in the label
    assert {(e.src, e.dst) for e in g.edges} >= {(const.id, g.nodes[2].id)}
    nodes, _ = parse(g.source)
    assert nodes[const.id]["fillcolor"] == "#f2f2f2" and nodes[const.id]["fontsize"] == "8"

    named = viz.graph((x * c).sum(), params={"batch": c})
    assert named.nodes[-1].label == "batch\n(1, 2) float64 cpu" and named.nodes[-1].name == "batch"

    folded = viz.graph((x * c).sum(), constants=False)
    assert [n.kind for n in folded.nodes] == ["op", "op", "leaf"] and len(folded.edges) == 2
    assert folded.nodes[1].label.splitlines()[0] == "multiply(·, [(1, 2) float64])"


def test_a_constant_used_twice_is_one_node():
    x, c = leaf([1.0, 2.0]), xg.asarray([5.0, 6.0])
    g = viz.graph((x * c + c).sum())
    assert [n.kind for n in g.nodes].count("constant") == 1
    const = next(n for n in g.nodes if n.kind == "constant")
    assert sum(e.src == const.id for e in g.edges) == 2


def test_params_left_at_their_defaults_are_not_drawn():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    g = viz.graph(xg.sum(x, axis=1, keepdims=True).sum())
    assert [n.label.splitlines()[0] for n in g.nodes[:2]] == ["sum", "sum(·, axis=1, keepdims=True)"]


def test_multi_output_op_shows_each_output_and_which_one_flows_where():
    a = leaf(np.array([[2.0, 1.0], [1.0, 3.0]]))
    w, v = xg.linalg.eigh(a)
    y = w.sum() + v[0, 0]
    g = viz.graph(y)
    assert [n.op or n.kind for n in g.nodes] == ["add", "sum", "getitem", "eigh", "leaf"]
    add, s, gi, eig, la = (n.id for n in g.nodes)
    assert {(e.src, e.dst, e.output) for e in g.edges} == {
        (s, add, 0), (gi, add, 0), (eig, s, 0), (eig, gi, 1), (la, eig, 0)}
    eigh = g.nodes[3]
    assert eigh.shapes == ((2,), (2, 2)) and eigh.label.splitlines()[1:4] == [
        "[0] (2,) float64", "[1] (2, 2) float64", "cpu"]
    assert g.nodes[2].label.splitlines()[0] == "getitem(·, key=(0, 0))"
    _, edges = parse(g.source)
    assert {(a_, b_): attrs.get("label") for a_, b_, attrs in edges if a_ == eig} == {
        (eig, s): "[0]", (eig, gi): "[1]"}
    both = viz.graph(w, v)                      # a result tuple is flattened: two outputs of one node
    assert both.nodes[0].outputs == ((0, 0), (1, 1)) and len(both.nodes) == 2
    assert both.nodes[0].label.splitlines()[-2:] == ["output 0 = [0]", "output 1 = [1]"]
    assert viz.graph(xg.linalg.eigh(a)).nodes[0].outputs == ((0, 0), (1, 1))


def test_deep_chain_without_recursion():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    y = x
    for _ in range(10_000):
        y = y + 1.0
    y = y.sum()
    assert sys.getrecursionlimit() < 10_000                      # a recursive walk would fail here
    g = viz.graph(y)
    assert len(g.nodes) == 10_000 + 1 and g.nodes[-1].kind == "more"   # 10 000 ops drawn, 2 hidden
    assert g.nodes[-1].label.startswith("… 2 more nodes not drawn")
    nodes, edges = parse(g.source)
    assert len(nodes) == 10_001 and len(edges) == 10_000
    whole = viz.graph(y, max_nodes=20_000)
    assert [n.kind for n in whole.nodes].count("op") == 10_001 and len(whole.edges) == 10_001


def test_deep_chain_gradient_norms():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    y = x
    for _ in range(5000):
        y = y + 1.0
    g = viz.graph(y.sum(), grad_norms=True)
    # every add passes the ones of the sum through: norm |(1, 1, 1, 1)| = 2 everywhere below the sum
    assert g.nodes[0].grad_norms == (1.0,)
    assert {n.grad_norms for n in g.nodes[1:]} == {(2.0,)}
    assert x.grad is None


def test_max_nodes_keeps_those_closest_to_the_outputs():
    x = leaf([1.0])
    y = x
    for _ in range(10):
        y = xg.sin(y)
    g = viz.graph(y, max_nodes=3)
    assert [n.kind for n in g.nodes] == ["op", "op", "op", "more"]
    assert g.nodes[-1].label.startswith("… 8 more nodes")               # 7 sins and the leaf
    assert ("more", g.nodes[2].id) in {(e.src, e.dst) for e in g.edges}
    assert repr(g) == "<Graph: 3 nodes (3 ops, 0 leaves, 0 constants) (some not drawn), 3 edges>"


def test_params_from_a_module_and_named_intermediates():
    xg.random.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = xg.ones((5, 3), dtype=xg.float32)
    h = net[0](x)
    out = net[2](net[1](h)).sum()
    for params in (net, dict(net.named_parameters())):
        g = viz.graph(out, params=params)
        names = {n.name for n in g.nodes if n.kind == "leaf"}
        assert names == {"0.weight", "0.bias", "2.weight", "2.bias"}
        w0 = next(n for n in g.nodes if n.name == "0.weight")
        assert w0.label.splitlines() == ["0.weight", "(4, 3) float32 cpu", "requires grad"]
    named = viz.graph(out, params={"hidden": h, **dict(net.named_parameters())})
    assert next(n for n in named.nodes if n.name == "hidden").label.splitlines()[:2] == [
        "affine", "hidden"]


def test_tied_weights_get_both_names_and_bad_params_are_refused():
    w = leaf([1.0, 2.0])
    g = viz.graph((w * w).sum(), params={"enc": w, "dec": w})
    assert g.nodes[-1].name == "enc = dec"
    with pytest.raises(DTypeError, match="dict name -> Tensor or a Module"):
        viz.graph((w * w).sum(), params=[w])
    with pytest.raises(DTypeError, match="'w' is a list"):
        viz.graph((w * w).sum(), params={"w": [1.0]})


def test_show_saved_counts_the_bytes_each_node_holds():
    x, w = leaf([1.0, 2.0, 3.0]), leaf([4.0, 5.0, 6.0])
    g = viz.graph((x * w).sum(), show_saved=True)
    s, m = g.nodes[:2]
    assert m.saved_bytes == 3 * 24 and "holds 3 arrays, 72 B" in m.label     # x, w and x*w, float64
    assert s.saved_bytes == 24 + 8 and "holds 2 arrays, 32 B" in s.label     # x*w and the scalar sum


# ---------------------------------------------------------------------------
# after backward: freed values
# ---------------------------------------------------------------------------

def test_graph_after_backward_draws_freed_nodes():
    x = leaf([1.0, 2.0])
    y = (xg.exp(x) * 2.0).sum()
    y.backward()
    g = viz.graph(y, show_saved=True)
    s, m, e = g.nodes[:3]
    assert s.shapes == ((),)                                  # the output tensor still says
    assert m.freed and m.shapes == (None,) and "(shape freed) cpu" in m.label
    assert "saved values freed" in m.label
    nodes, _ = parse(g.source)
    assert "dashed" in nodes[m.id]["style"]
    with pytest.raises(GraphFreedError, match="retain_graph=True"):
        viz.graph(y, grad_norms=True)


def test_record_shapes_keeps_shapes_through_backward():
    x = leaf([1.0, 2.0])
    with viz.record_shapes():
        y = (xg.exp(x) * 2.0).sum()
    y.backward()
    g = viz.graph(y)
    assert [n.shapes for n in g.nodes] == [((),), ((2,),), ((2,),), ((2,),)]
    assert g.nodes[1].freed and g.nodes[1].label.splitlines()[1] == "(2,) float64 cpu"


# ---------------------------------------------------------------------------
# gradient norms
# ---------------------------------------------------------------------------

def test_gradient_norms_by_hand():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    y = (3 * x).sum()
    g = viz.graph(y, grad_norms=True)
    s, m, lx = g.nodes
    assert s.grad_norms == (1.0,)          # d y / d y
    assert m.grad_norms == (2.0,)          # |(1, 1, 1, 1)|
    assert lx.grad_norms == (6.0,)         # |(3, 3, 3, 3)|
    assert x.grad is None
    assert "grad norm 2.00e+00" in m.label and "grad norm 6.00e+00" in lx.label
    assert g.scale == (0.0, math.log10(6.0))
    y.backward()                           # nothing was freed by the extra pass
    assert x.grad.tolist() == [3.0, 3.0, 3.0, 3.0]


def test_gradient_norms_match_autograd_and_colour_by_log_norm():
    xg.random.manual_seed(1)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    x = xg.random.normal((6, 4), dtype=xg.float32)
    loss = (net(x) ** 2).mean()
    g = viz.graph(loss, params=net, grad_norms=True)
    grads = xg.autograd.grad(loss, list(net.parameters()), retain_graph=True)
    for (name, _), gr in zip(net.named_parameters(), grads):
        node = next(n for n in g.nodes if n.name == name)
        assert node.grad_norms[0] == pytest.approx(float(np.linalg.norm(gr.numpy())), rel=1e-5)
    assert all(p.grad is None for p in net.parameters())
    lo, hi = g.scale
    nodes, _ = parse(g.source)
    for n in g.nodes:
        if n.kind in ("op", "leaf"):
            assert nodes[n.id]["fillcolor"] == viz.norm_color(n.grad_norms[0], lo, hi)


def test_gradient_norms_of_a_multi_output_op():
    a = leaf(np.array([[2.0, 1.0], [1.0, 3.0]]))
    w, v = xg.linalg.eigh(a)
    g = viz.graph(w.sum() + v[0, 0], grad_norms=True)
    eigh = g.nodes[3]
    assert eigh.grad_norms == pytest.approx((math.sqrt(2.0), 1.0))  # |(1, 1)| and |e_00|
    (ga,) = xg.autograd.grad(w.sum() + v[0, 0], a, retain_graph=True)
    assert g.nodes[4].grad_norms[0] == pytest.approx(float(np.linalg.norm(ga.numpy())))
    only_w = viz.graph(w.sum(), grad_norms=True).nodes[1]
    assert only_w.grad_norms == (pytest.approx(math.sqrt(2.0)), None)
    assert "[1] no gradient" in only_w.label


def test_non_scalar_outputs_need_grad_outputs():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    y = 3 * x
    with pytest.raises(BackwardError, match=r"output 0 has shape \(4,\).*grad_outputs"):
        viz.graph(y, grad_norms=True)
    g = viz.graph(y, grad_norms=True, grad_outputs=xg.full((4,), 2.0))
    assert g.nodes[0].grad_norms == (4.0,) and g.nodes[1].grad_norms == (12.0,)
    with pytest.raises(viz.VizError, match="2 grad_outputs"):
        viz.graph(y, grad_norms=True, grad_outputs=[xg.ones(4), xg.ones(4)])


def test_hooks_do_not_run_and_no_grad_is_written():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    h.retain_grad()
    calls = []
    x.register_hook(lambda gr: calls.append(1))
    y = (h * h).sum()
    g = viz.graph(y, grad_norms=True)
    assert g.nodes[2].grad_norms[0] == pytest.approx(math.hypot(4.0, 8.0))    # d y / d h = 2 h
    assert calls == [] and h.grad is None and x.grad is None
    y.backward()
    assert calls == [1] and h.grad.tolist() == [4.0, 8.0]                      # the hooks are back


def test_a_node_no_gradient_reaches_is_grey():
    @xg.custom_vjp
    def block(t):
        return t * 1.0

    block.defvjp(lambda t: (t * 1.0, None), lambda res, gr: (None,))
    x = leaf([1.0, 2.0])
    g = viz.graph((block(x * 2.0) + x).sum(), grad_norms=True)
    m = next(n for n in g.nodes if n.op == "multiply")
    assert m.grad_norms == (None,) and "no gradient" in m.label
    assert next(n for n in g.nodes if n.kind == "leaf").grad_norms == (pytest.approx(math.sqrt(2.0)),)
    nodes, _ = parse(g.source)
    assert nodes[m.id]["fillcolor"] == GREY
    assert "_res" not in g.source                       # custom_vjp's private params stay out


@pytest.mark.parametrize("make, text", [
    (lambda x: xg.sqrt(x).sum(), "Inf"),                # d sqrt(x) / dx at 0 = inf
    (lambda x: (xg.sqrt(x) * 0.0).sum(), "NaN"),        # 0 * inf
])
def test_nonfinite_gradients_are_red(make, text):
    x = leaf([0.0, 4.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        g = viz.graph(make(x), grad_norms=True)
    lx = g.nodes[-1]
    assert f"grad norm {text}" in lx.label
    assert (math.isnan if text == "NaN" else math.isinf)(lx.grad_norms[0])
    nodes, _ = parse(g.source)
    assert nodes[lx.id]["fillcolor"] == RED
    assert g.nodes[0].grad_norms == (1.0,)              # the finite part of the graph is coloured as usual
    assert nodes[g.nodes[0].id]["fillcolor"] != RED


def test_large_finite_gradients_do_not_overflow_the_norm():
    x = leaf([1.0, 1.0], dtype=xg.float32)
    c = xg.asarray([3e20, 4e20], dtype=xg.float32)
    g = viz.graph((x * c).sum(), grad_norms=True)        # d/dx = c: its squares overflow float32
    assert next(n for n in g.nodes if n.kind == "leaf").grad_norms[0] == pytest.approx(5e20, rel=1e-6)


def test_norm_range_fixes_the_scale_and_legend():
    x = leaf([1.0, 2.0, 3.0, 4.0])
    g = viz.graph((3 * x).sum(), grad_norms=True, norm_range=(-4, 2))
    assert g.scale == (-4.0, 2.0)
    assert 'legend0 [label="1.0e-04"' in g.source and 'legend4 [label="1.0e+02"' in g.source
    assert 'legend_bad [label="NaN / Inf"' in g.source and 'legend_none [label="no gradient"' in g.source
    assert "legend" not in viz.graph((3 * x).sum()).source     # no legend without grad_norms
    nan = viz.graph((3 * x).sum(), grad_norms=True, grad_outputs=xg.asarray(math.nan))
    assert {n.grad_norms[0] for n in nan.nodes if not math.isnan(n.grad_norms[0])} == set()
    assert "legend0" not in nan.source and "legend_bad" in nan.source      # no scale without a finite norm
    with pytest.raises(viz.VizError, match="lo < hi"):
        viz.graph((3 * x).sum(), grad_norms=True, norm_range=(2, -4))


def _luminance(hex_colour):
    def lin(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, gr, b = (lin(int(hex_colour[i:i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * gr + 0.0722 * b


@given(st.floats(-12, 12), st.floats(0.1, 20), st.floats(0, 1), st.floats(0, 1))
def test_colour_scale_gets_lighter_as_the_norm_grows(lo, span, t1, t2):
    hi = lo + span
    a, b = sorted((t1, t2))
    ca, cb = (viz.norm_color(10 ** (lo + span * t), lo, hi) for t in (a, b))
    assert re.fullmatch(r"#[0-9a-f]{6}", ca)
    assert _luminance(ca) <= _luminance(cb) + 1e-9


def test_colour_scale_ends():
    assert viz.norm_color(0.0, -3, 0) == viz.norm_color(1e-3, -3, 0) == viz.norm_color(1e-9, -3, 0)
    assert viz.norm_color(1.0, -3, 0) == viz.norm_color(1e9, -3, 0)
    assert viz.norm_color(math.inf, -3, 0) == viz.norm_color(math.nan, -3, 0) == RED
    assert viz.norm_color(None, -3, 0) == GREY
    assert _luminance(viz.norm_color(1.0, -3, 0)) > 10 * _luminance(viz.norm_color(1e-3, -3, 0))


# ---------------------------------------------------------------------------
# DOT text validity
# ---------------------------------------------------------------------------

@settings(max_examples=200)
@given(st.text())
def test_any_name_is_quoted_so_it_reads_back(name):
    x = leaf([1.0])
    g = viz.graph((x * 2.0).sum(), params={name: x})
    nodes, _ = parse(g.source)
    want = name.replace("\r\n", "\n").replace("\r", "\n")
    want = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") and c != "\n" else c
                   for c in want) or "leaf"
    assert nodes[g.nodes[-1].id]["label"] == "\n".join([want, "(1,) float64 cpu", "requires grad"])


@needs_dot
def test_dot_accepts_the_text_and_draws_every_node():
    names = {'we"ird\\name': None, "line\nbreak": None, "ünï{c}ode <&>": None, "[x]; y -> z": None}
    ts = {k: leaf([1.0, 2.0]) for k in names}
    y = sum((t * float(i + 1)).sum() for i, t in enumerate(ts.values()))
    c = xg.asarray([1.0, 1.0])
    g = viz.graph(y * (ts['we"ird\\name'] * c).sum(), params=ts, grad_norms=True, show_saved=True)
    out = subprocess.run([DOT, "-Tjson"], input=g.source.encode(), capture_output=True, check=True)
    drawn = json.loads(out.stdout)
    names_drawn = {o["name"] for o in drawn["objects"] if "nodes" not in o}
    assert names_drawn >= {n.id for n in g.nodes}
    texts = {tuple(d["text"] for d in o.get("_ldraw_", []) if d.get("op") == "T")
             for o in drawn["objects"] if o["name"] in {n.id for n in g.nodes}}
    for n in g.nodes:
        assert tuple(n.label.split("\n")) in texts, n.label       # Graphviz reads back each line as written


# ---------------------------------------------------------------------------
# pictures
# ---------------------------------------------------------------------------

@needs_dot
def test_render_svg_and_png(tmp_path):
    x = leaf([1.0, 2.0])
    g = viz.graph((3 * x).sum(), params={"x": x}, grad_norms=True)
    svg = g.render(tmp_path / "g.svg")
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text[:1000] and text.rstrip().endswith("</svg>")
    assert "multiply(3, ·)" in text and "grad norm 6.00e+00" not in text       # x's norm is 3 |(1, 1)|
    assert "grad norm 4.24e+00" in text
    png = g.render(tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert g.render(tmp_path / "pic", format="png").read_bytes()[:4] == b"\x89PNG"
    assert g.render(tmp_path / "plain").read_text().lstrip().startswith("<?xml")   # no suffix: svg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "g.svg", "pic", "plain"]  # no temp left
    assert "<svg" in g._repr_svg_()
    assert g.pipe("pdf")[:5] == b"%PDF-"


def test_dot_format_needs_no_binary(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    monkeypatch.delenv("GRAPHVIZ_DOT", raising=False)
    x = leaf([1.0])
    g = viz.graph((x * 2.0).sum())
    p = g.render(tmp_path / "g.dot")
    assert p.read_text() == g.source
    assert g._repr_svg_() is None                       # Jupyter falls back to the text repr
    with pytest.raises(viz.GraphvizError) as err:
        g.render(tmp_path / "g.svg")
    msg = str(err.value)
    assert "apt install graphviz" in msg and "brew install graphviz" in msg and "conda" in msg
    assert "graph.render('g.dot')" in msg
    assert isinstance(err.value, XpgradError) and not (tmp_path / "g.svg").exists()
    with pytest.raises(viz.GraphvizError, match="needs Graphviz's dot"):
        g.pipe("png")


def test_a_failing_dot_is_reported(tmp_path, monkeypatch):
    false = shutil.which("false")
    if false is None:
        pytest.skip("no `false` program to stand in for a failing dot")
    monkeypatch.setenv("GRAPHVIZ_DOT", false)
    g = viz.graph((leaf([1.0]) * 2.0).sum())
    with pytest.raises(viz.GraphvizError, match="failed with exit status 1"):
        g.render(tmp_path / "g.svg")
    assert list(tmp_path.iterdir()) == []               # nothing half-written


def test_bad_arguments_get_clear_errors(tmp_path):
    x = leaf([1.0])
    with pytest.raises(viz.VizError, match="at least one output"):
        viz.graph()
    with pytest.raises(DTypeError, match="output 1 is a ndarray"):
        viz.graph((x * 2).sum(), np.ones(2))
    with pytest.raises(NotDifferentiableError, match=r"output 0 \(\(2,\) float64 on cpu\) has no recorded"):
        viz.graph(xg.ones(2) * 2)
    with xg.no_grad():
        y = x * 2
    with pytest.raises(NotDifferentiableError, match="no_grad"):
        viz.graph(y)
    with pytest.raises(viz.VizError, match="max_nodes=0"):
        viz.graph((x * 2).sum(), max_nodes=0)
    with pytest.raises(viz.VizError, match="formats: svg, png, pdf, dot"):
        viz.graph((x * 2).sum()).render(tmp_path / "g.jpg")
    assert issubclass(viz.VizError, ValueError) and issubclass(viz.GraphvizError, RuntimeError)


def test_a_leaf_output_and_a_released_leaf():
    x = leaf(5.0)
    g = viz.graph(x, grad_norms=True)
    assert [n.kind for n in g.nodes] == ["leaf"] and g.nodes[0].outputs == ((0, 0),)
    assert g.nodes[0].grad_norms == (1.0,)
    z = leaf([3.0, 4.0])
    y = (z * 2.0).sum()
    del z                                              # the leaf's tensor is gone; its node is not
    g = viz.graph(y, grad_norms=True)
    assert g.nodes[-1].label.splitlines()[:2] == ["leaf", "(2,) float64 cpu"]
    assert g.nodes[-1].grad_norms == (pytest.approx(math.sqrt(8.0)),)


# ---------------------------------------------------------------------------
# devices
# ---------------------------------------------------------------------------



def test_devices_in_labels_and_norms(device):
    x = leaf([1.0, 2.0, 3.0, 4.0], device=device, dtype=xg.float32)
    w = leaf([0.5, 0.5, 0.5, 0.5], device=device, dtype=xg.float32)
    g = viz.graph((3 * (x * w)).sum(), params={"x": x, "w": w}, grad_norms=True)
    assert {n.device for n in g.nodes} == {device}
    assert g.nodes[0].label.splitlines()[1] == f"() float32 {device}"
    assert by_label(g, "x").label.splitlines()[1] == f"(4,) float32 {device}"
    norms = {n.label.splitlines()[0]: n.grad_norms[0] for n in g.nodes}
    # d/d(3xw) = 1s: 2; d/d(xw) = 3s: 6; d/dx = 3w: 3; d/dw = 3x: 3 |(1, 2, 3, 4)|
    assert norms == pytest.approx({"sum": 1.0, "multiply(3, ·)": 2.0, "multiply": 6.0, "x": 3.0,
                                   "w": 3 * math.sqrt(30.0)}, rel=1e-6)
    assert x.grad is None and w.grad is None


def test_a_transfer_shows_both_devices(device):
    if device == "cpu":
        pytest.skip("a transfer needs a second device")
    x = leaf([1.0, 2.0], dtype=xg.float32)
    y = x.to_device(device)
    g = viz.graph((y * 2.0).sum(), grad_norms=True)
    t = next(n for n in g.nodes if n.op == "to_device")
    assert t.device == device and f"(2,) float32 cpu → {device}" in t.label
    assert g.nodes[-1].device == "cpu" and g.nodes[-1].grad_norms == (pytest.approx(math.sqrt(8.0)),)


# ---------------------------------------------------------------------------
# the example and the committed pictures
# ---------------------------------------------------------------------------

def _example():
    spec = importlib.util.spec_from_file_location("draw_graph", ROOT / "examples" / "draw_graph.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_draws_both_pictures(tmp_path, capsys):
    ex = _example()
    fmt = "svg" if DOT else "dot"
    written = ex.main(["--out", str(tmp_path), "--format", fmt])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"mlp_graph.{fmt}", f"mlp_graph_grads.{fmt}"]
    assert written["graph"].stat().st_size > 1000
    out = capsys.readouterr().out
    norms = {m[1]: float(m[2]) for m in re.finditer(r"(\d\.weight)\s+gradient norm (\S+)", out)}
    # the sigmoids shrink the gradient layer by layer: the first weight gets the smallest
    assert norms["0.weight"] < norms["2.weight"] < norms["4.weight"] < norms["6.weight"]


@pytest.mark.parametrize("name", ["mlp_graph.svg", "mlp_graph_grads.svg"])
def test_committed_pictures_are_small_svgs(name):
    p = ROOT / "docs" / "images" / name
    text = p.read_text()
    assert "<svg" in text[:1000] and text.rstrip().endswith("</svg>") and p.stat().st_size < 60_000
    assert "0.weight" in text and "cross_entropy" in text
    assert ("grad norm" in text) == (name == "mlp_graph_grads.svg")


def test_docstring_examples():
    result = doctest.testmod(viz)
    assert result.failed == 0 and result.attempted >= 10
