"""Pictures of the recorded graph: Graphviz DOT text, SVG/PNG through ``dot``, and gradient flow.

``graph(loss, params=model)`` walks the graph that autograd recorded, back from
its outputs, and returns a :class:`Graph`: the ops (with their output shapes,
dtypes and device), the leaves that require grad (named after the parameters
when ``params`` is given), the constant inputs, and which outputs were asked
for. ``Graph.source`` is DOT text, which needs nothing installed; ``render``
and ``pipe`` run Graphviz's ``dot`` program to make SVG or PNG, and Jupyter
shows a graph inline through ``_repr_svg_``.

``graph(loss, grad_norms=True)`` is the gradient-flow view: it runs one extra
backward pass that touches no ``.grad`` and frees nothing, records the norm of
the gradient arriving at every node, and colours the nodes by the log of that
norm, so vanishing and exploding gradients show at a glance.

The walk is an explicit queue, never recursion, so graphs of tens of
thousands of nodes are drawn as easily as small ones (``dot`` itself gets slow
long before: ``max_nodes`` bounds what is drawn).
"""

from __future__ import annotations

import inspect
import math
import os
import shutil
import subprocess
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._atomic import atomic_write
from .core.errors import BackwardError, DTypeError, GraphFreedError, NotDifferentiableError, XpgradError
from .core.device import backend_of
from .core.tape import Observer, observe
from .core.tensor import Leaf, Tensor

__all__ = ["graph", "Graph", "GraphNode", "GraphEdge", "record_shapes", "norm_color",
           "GraphvizError", "VizError"]


class GraphvizError(XpgradError, RuntimeError):
    """Graphviz's ``dot`` program is missing, or failed on the graph it was given."""


class VizError(XpgradError, ValueError):
    """An argument of :func:`graph` or :meth:`Graph.render` that cannot be drawn."""


FORMATS = ("svg", "png", "pdf", "dot")

_INSTALL = ("install Graphviz (Debian/Ubuntu: sudo apt install graphviz; Fedora: sudo dnf install graphviz; "
            "macOS: brew install graphviz; conda: conda install -c conda-forge graphviz; Windows: "
            "https://graphviz.org/download/) or set GRAPHVIZ_DOT to the path of the dot program")

# Node colours without gradient norms (fills), and the fixed colours of the gradient-flow view.
_FILL_OP = "#dde7f3"
_FILL_PARAM = "#fde9c4"
_FILL_LEAF = "#e3f1dc"
_FILL_CONST = "#f2f2f2"
_NO_GRAD = "#c8c8c8"
_NONFINITE = "#e31a1c"
_OUTPUT_PEN = "#1b7837"


@dataclass(frozen=True)
class GraphNode:
    """One drawn node: an op application, a leaf that requires grad, a constant input, or the
    marker for nodes left out by ``max_nodes`` (``kind`` is ``"op"``, ``"leaf"``, ``"constant"``
    or ``"more"``).

    ``shapes``/``dtypes`` have one entry per output (``None`` where the saved values were
    freed and nothing else records them); ``outputs`` lists ``(k, i)`` when output ``i`` of
    this node is the ``k``-th tensor given to :func:`graph`; ``grad_norms`` has one entry per
    output under ``grad_norms=True`` (``None`` where no gradient arrives).
    """

    id: str
    kind: str
    label: str
    op: str | None = None
    name: str | None = None
    shapes: tuple = ()
    dtypes: tuple = ()
    device: str | None = None
    requires_grad: bool = False
    outputs: tuple = ()
    freed: bool = False
    saved_bytes: int | None = None
    grad_norms: tuple | None = None


@dataclass(frozen=True)
class GraphEdge:
    """Data flowing from output ``output`` of node ``src`` into input ``input`` of node ``dst``."""

    src: str
    dst: str
    output: int = 0
    input: int = 0


# ---------------------------------------------------------------------------
# the colour scale of the gradient-flow view
# ---------------------------------------------------------------------------

# Anchors in OKLab (L, a, b): dark violet, teal, yellow. Lightness rises linearly along the scale and
# OKLab distances match perceived differences, so equal steps of log10(norm) look like equal steps.
def _anchor(lightness: float, chroma: float, hue_deg: float) -> tuple[float, float, float]:
    h = math.radians(hue_deg)
    return lightness, chroma * math.cos(h), chroma * math.sin(h)


_ANCHORS = (_anchor(0.30, 0.14, 300.0), _anchor(0.62, 0.10, 190.0), _anchor(0.93, 0.17, 105.0))


def _oklab_to_srgb(L: float, a: float, b: float) -> tuple[float, float, float]:
    """OKLab (Ottosson 2020) to gamma-encoded sRGB in [0, 1], clipped to the gamut."""
    l_ = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3
    m_ = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3
    s_ = (L - 0.0894841775 * a - 1.2914855480 * b) ** 3
    lin = (4.0767416621 * l_ - 3.3077115913 * m_ + 0.2309699292 * s_,
           -1.2684380046 * l_ + 2.6097574011 * m_ - 0.3413193965 * s_,
           -0.0041960863 * l_ - 0.7034186147 * m_ + 1.7076147010 * s_)
    out = []
    for c in lin:
        c = min(max(c, 0.0), 1.0)
        out.append(12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055)
    return out[0], out[1], out[2]


def _scale(t: float) -> tuple[float, float, float]:
    """The OKLab colour at position ``t`` in [0, 1] of the scale."""
    t = min(max(t, 0.0), 1.0)
    (L0, a0, b0), (L1, a1, b1) = (_ANCHORS[0], _ANCHORS[1]) if t <= 0.5 else (_ANCHORS[1], _ANCHORS[2])
    u = t * 2 if t <= 0.5 else t * 2 - 1
    return L0 + (L1 - L0) * u, a0 + (a1 - a0) * u, b0 + (b1 - b0) * u


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def norm_color(norm: float | None, lo: float, hi: float) -> str:
    """The fill colour of a gradient norm on the log scale from ``10**lo`` to ``10**hi``.

    The scale runs from dark violet (``10**lo`` and below, and 0) through teal to
    yellow (``10**hi`` and above) along a path of linearly rising lightness in
    OKLab, a perceptually uniform colour space. ``None`` (no gradient) is grey,
    NaN and Inf are red.

    >>> norm_color(1e-3, -3, 0), norm_color(1.0, -3, 0)
    ('#3b0f67', '#f9ed52')
    >>> norm_color(float("nan"), -3, 0), norm_color(None, -3, 0)
    ('#e31a1c', '#c8c8c8')
    """
    if norm is None:
        return _NO_GRAD
    if not math.isfinite(norm):
        return _NONFINITE
    return _hex(_oklab_to_srgb(*_scale(_position(norm, lo, hi))))


def _position(norm: float, lo: float, hi: float) -> float:
    if norm <= 0:
        return 0.0
    if hi <= lo:
        return 0.5
    return (math.log10(norm) - lo) / (hi - lo)


def _text_color(norm: float | None, lo: float, hi: float) -> str:
    if norm is None or not math.isfinite(norm):
        return "#000000" if norm is None else "#ffffff"
    return "#ffffff" if _scale(_position(norm, lo, hi))[0] < 0.62 else "#000000"


# ---------------------------------------------------------------------------
# small text helpers
# ---------------------------------------------------------------------------

def _quote(text: str) -> str:
    """``text`` as a DOT quoted string: backslashes and quotes escaped, newlines as ``\\n``, other
    control and line-separator characters as spaces (Graphviz would draw them as boxes, or break)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + "".join(" " if unicodedata.category(c) in _UNPRINTABLE else c for c in text) + '"'


_UNPRINTABLE = ("Cc", "Zl", "Zp")


def _clean_name(name: Any) -> str:
    """A user's name for a tensor, with its line ends made ``\\n`` (``\\r\\n`` and ``\\r`` too)."""
    return str(name).replace("\r\n", "\n").replace("\r", "\n")


def _dtype_name(d: Any) -> str:
    name = getattr(d, "name", None)
    return name if isinstance(name, str) else str(d)


def _shape_text(shape: Any) -> str:
    return str(tuple(int(s) for s in shape))


def _short(v: Any, limit: int = 28) -> str:
    if isinstance(v, float):
        s = f"{v:.4g}"
    elif v is None or isinstance(v, (bool, int, complex, str)):
        s = repr(v)
    elif isinstance(v, (tuple, list)) and all(x is None or isinstance(x, (bool, int, float, str)) for x in v):
        s = repr(v)
    elif hasattr(v, "shape") and hasattr(v, "dtype"):
        s = f"[{_shape_text(v.shape)} {_dtype_name(v.dtype)}]"
    elif callable(v):
        s = getattr(v, "__name__", type(v).__name__)
    else:
        s = type(v).__name__
    return s if len(s) <= limit else s[:limit - 1] + "…"


def _bytes_text(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"  # unreachable


def _norm_text(v: float | None) -> str:
    if v is None:
        return "no gradient"
    if math.isnan(v):
        return "grad norm NaN"
    if math.isinf(v):
        return "grad norm Inf"
    return f"grad norm {v:.3g}" if v == 0 else f"grad norm {v:.2e}"


def _is_arraylike(a: Any) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype")


# ---------------------------------------------------------------------------
# recording shapes for graphs drawn after backward freed them
# ---------------------------------------------------------------------------

class _ShapeRecorder(Observer):
    """Notes every recorded node's output shapes, dtypes and device in ``node.meta["viz"]``."""

    def after(self, op: Any, args: tuple, params: dict, result: Any) -> None:
        outs = result if isinstance(result, tuple) else (result,)
        for t in outs:
            e = getattr(t, "_edge", None)
            if e is not None and type(e[0]) is not Leaf:
                node = e[0]
                if node.meta is None or "viz" not in node.meta:
                    node.meta = {**(node.meta or {}), "viz": _describe_outputs(node)}
                return


class record_shapes:
    """Keep the output shapes of ops recorded in the block, so a graph drawn after ``backward()``
    (which frees saved values) still shows them.

    >>> import xpgrad as xg
    >>> x = xg.asarray([1.0, 2.0], requires_grad=True)
    >>> with xg.viz.record_shapes():
    ...     y = (x * x).sum()
    >>> y.backward()
    >>> [n.shapes for n in xg.viz.graph(y).nodes if n.kind == "op"]
    [((),), ((2,),)]
    """

    def __init__(self) -> None:
        self._ctx = observe(_ShapeRecorder())

    def __enter__(self) -> None:
        self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


def _out_device(node: Any) -> str:
    """Where a node's outputs live: its backend's device, or a transfer op's destination."""
    ob = node.op.out_backend
    if ob is not None and node.params is not None:
        try:
            return ob(node.params).device
        except Exception:  # a transfer op whose params no longer say: fall back to its input's device
            pass
    return node.b.device


def _describe_outputs(node: Any) -> tuple:
    """``(shapes, dtypes, device)`` of a live node's outputs."""
    outs = node.out if node.n_out > 1 else (node.out,)
    return (tuple(tuple(int(s) for s in o.shape) for o in outs),
            tuple(_dtype_name(o.dtype) for o in outs), _out_device(node))


# ---------------------------------------------------------------------------
# gradient norms
# ---------------------------------------------------------------------------

def _array_norm(a: Any) -> float | None:
    """The 2-norm of a cotangent, computed on its device without overflow: NaN or Inf if it has any."""
    if a is None:
        return None
    if isinstance(a, Tensor):
        a, b = a.data, a._b
    else:   # the device of a node's output cotangent is its output's (a transfer's is not its input's)
        b = backend_of(a)
    xp = b.xp
    if math.prod(int(s) for s in a.shape) == 0:
        return 0.0
    if not bool(b.to_host(xp.all(xp.isfinite(a)))):
        return math.nan if bool(b.to_host(xp.any(xp.isnan(a)))) else math.inf
    mag = xp.abs(a)
    m = float(b.to_host(xp.max(mag)))
    if m == 0.0:
        return 0.0
    r = mag / m  # scaled by the largest entry, so the sum of squares cannot overflow
    return m * math.sqrt(float(b.to_host(xp.sum(r * r))))


class _NormObserver(Observer):
    """Records the norm of the cotangent arriving at each node of the drawn graph."""

    def __init__(self, wanted: set) -> None:
        self.wanted = wanted
        self.norms: dict = {}

    def before_vjp(self, node: Any, g: Any) -> None:
        if node not in self.wanted:   # a nested backward (a checkpointed region) has its own nodes
            return
        gs = tuple(g) if node.n_out > 1 else (g,)
        self.norms[node] = tuple(_array_norm(x) for x in gs)


def _gradient_norms(outs: list, order: list, leaf_data: dict, grad_outputs: Any) -> dict:
    """Norms of the gradient reaching every node of ``order``: one backward pass into no ``.grad``."""
    for n in order:
        if type(n) is not Leaf and n.freed:
            raise GraphFreedError(
                f"graph(grad_norms=True) needs the saved values of the graph, but '{n.op.name}' released "
                "them in an earlier backward(); draw before backward, or call backward(retain_graph=True)")
    if grad_outputs is None:
        gos = None
        for k, t in enumerate(outs):
            if t.size != 1:
                raise BackwardError(
                    f"graph(grad_norms=True) differentiates the outputs, and output {k} has shape {t.shape}: "
                    "pass grad_outputs=(one cotangent per output), or draw a scalar such as y.sum()")
    else:
        gos = [grad_outputs] if isinstance(grad_outputs, Tensor) or _is_arraylike(grad_outputs) \
            else list(grad_outputs)
        if len(gos) != len(outs):
            raise VizError(f"graph() got {len(outs)} outputs but {len(gos)} grad_outputs; "
                           "give one cotangent per output")
    leaves = [n for n in order if type(n) is Leaf]
    inputs = []
    for leaf in leaves:
        t = leaf.tensor()
        if t is None or t._edge is None or t._edge[0] is not leaf:
            # the leaf's tensor is gone (or was detached since): a stand-in with the same graph edge
            data, b = leaf_data[leaf]
            t = Tensor._make(data, b, (leaf, 0))
        inputs.append(t)
    # Hooks do not run in this pass: they may have side effects (retain_grad writes .grad, hooks log).
    hooked = [(n, n.hooks) for n in order if n.hooks]
    obs = _NormObserver(set(order))
    from .autograd import grad

    try:
        for n, _ in hooked:
            n.hooks = None
        with observe(obs):
            grads = grad(outs, inputs, grad_outputs=gos, retain_graph=True, allow_unused=True)
    finally:
        for n, h in hooked:
            n.hooks = h
    norms = obs.norms
    for leaf, g in zip(leaves, grads):
        norms[leaf] = (None if g is None else _array_norm(g),)
    return norms


# ---------------------------------------------------------------------------
# the walk
# ---------------------------------------------------------------------------

def _flatten_outputs(outputs: tuple) -> list:
    flat: list = []
    for o in outputs:
        if isinstance(o, (tuple, list)):   # a multi-output op's results, or a list of tensors
            flat.extend(o)
        else:
            flat.append(o)
    for k, t in enumerate(flat):
        if not isinstance(t, Tensor):
            raise DTypeError(f"graph() draws xpgrad Tensors, but output {k} is a {type(t).__name__}; "
                             "pass the tensors the computation returned (e.g. graph(loss))")
        if t._edge is None:
            raise NotDifferentiableError(
                f"graph(): output {k} ({t.shape} {_dtype_name(t.dtype)} on {t.device}) has no recorded "
                "graph: no input of its computation required grad, or it ran under no_grad(); create "
                "the inputs with requires_grad=True (or call x.requires_grad_()) before computing it")
    if not flat:
        raise VizError("graph() needs at least one output tensor, e.g. graph(loss)")
    return flat


def _names(params: Any) -> dict:
    """``{(node, output index): name}`` from a dict name -> Tensor, or a Module's named parameters;
    a tensor that does not require grad is keyed ``("constant", id(tensor))``."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters") and callable(params.named_parameters):
        items = list(params.named_parameters())
    elif isinstance(params, dict):
        items = list(params.items())
    else:
        raise DTypeError(f"graph(params=...) takes a dict name -> Tensor or a Module, got "
                         f"{type(params).__name__}; e.g. params=dict(model.named_parameters())")
    names: dict = {}
    for name, t in items:
        name = _clean_name(name)
        if not isinstance(t, Tensor):
            raise DTypeError(f"graph(params=...): {name!r} is a {type(t).__name__}, not a Tensor")
        key = t._edge if t._edge is not None else ("constant", id(t))   # constants may be named too
        names[key] = f"{names[key]} = {name}" if key in names else name
    return names


def _walk(roots: list) -> list:
    """Every node reachable from ``roots``, breadth first (closest to the outputs first), no recursion."""
    seen = set()
    order = []
    queue: deque = deque()
    for n in roots:
        if n not in seen:
            seen.add(n)
            order.append(n)
            queue.append(n)
    while queue:
        for e in queue.popleft().edges:
            if e is not None and e[0] not in seen:
                p = e[0]
                seen.add(p)
                order.append(p)
                queue.append(p)
    return order


def graph(*outputs: Tensor, params: Any = None, show_saved: bool = False, grad_norms: bool = False,
          grad_outputs: Any = None, constants: bool = True, max_nodes: int = 10_000,
          norm_range: tuple[float, float] | None = None) -> "Graph":
    """The graph recorded for ``outputs``, as a :class:`Graph` (DOT text, pictures, nodes and edges).

    Op nodes show the op (with its Python-number arguments and parameters), output
    shape(s), dtype(s) and device; leaf nodes the parameter name (``params``: a
    dict name -> Tensor or a Module; any tensor of the graph may be named), shape,
    dtype, device and "requires grad"; constant inputs are small grey boxes
    (``constants=False`` folds them into the op's label). The outputs are drawn
    with a thick green border. ``show_saved`` adds the bytes each node holds for
    backward. At most ``max_nodes`` ops and leaves are drawn, those closest to the
    outputs; one node stands for the rest.

    ``grad_norms=True`` runs one backward pass (no ``.grad`` is touched, nothing
    is freed, tensor hooks do not run) and colours every node by the log10 of the
    norm of the gradient arriving at its output(s): see :func:`norm_color`.
    Outputs must have one element, or ``grad_outputs`` gives their cotangents;
    ``norm_range=(lo, hi)`` fixes the colour scale to ``10**lo .. 10**hi`` (to
    compare pictures), else it spans the norms found.

    >>> import xpgrad as xg
    >>> x = xg.asarray([1.0, 2.0], requires_grad=True)
    >>> g = xg.viz.graph((3 * x).sum(), params={"x": x}, grad_norms=True)
    >>> g
    <Graph: 3 nodes (2 ops, 1 leaf, 0 constants), 2 edges>
    >>> [(n.label.splitlines()[0], round(n.grad_norms[0], 4)) for n in g.nodes]   # 1, |(1, 1)|, |(3, 3)|
    [('sum', 1.0), ('multiply(3, ·)', 1.4142), ('x', 4.2426)]
    >>> x.grad is None
    True
    """
    outs = _flatten_outputs(outputs)
    if not isinstance(max_nodes, int) or max_nodes < 1:
        raise VizError(f"graph(max_nodes={max_nodes!r}): give a positive number of nodes to draw")
    if norm_range is not None:
        lo, hi = (float(v) for v in norm_range)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise VizError(f"graph(norm_range={norm_range!r}) takes (lo, hi) exponents of ten with lo < hi, "
                           "e.g. (-8, 2) for norms from 1e-8 to 1e2")
    names = _names(params)
    order = _walk([t._edge[0] for t in outs])

    # What only the output tensors and the consumers of leaves still know once values are freed.
    known: dict = {}
    for t in outs:
        known.setdefault(t._edge, (tuple(t.shape), _dtype_name(t.dtype), t.device))
    leaf_data: dict = {}
    for n in order:
        if type(n) is not Leaf and n.raw is not None:
            for e, r in zip(n.edges, n.raw):
                if e is not None and type(e[0]) is Leaf and e[0] not in leaf_data:
                    leaf_data[e[0]] = (r, n.b)

    norms = _gradient_norms(outs, order, leaf_data, grad_outputs) if grad_norms else None
    return _build(outs, order, names, known, leaf_data, norms, show_saved, constants, max_nodes, norm_range)


def _build(outs: list, order: list, names: dict, known: dict, leaf_data: dict, norms: dict | None,
           show_saved: bool, constants: bool, max_nodes: int, norm_range: Any) -> "Graph":
    drawn = order[:max_nodes]
    ids = {n: f"n{i}" for i, n in enumerate(drawn)}
    marks: dict = {}
    for k, t in enumerate(outs):
        marks.setdefault(t._edge[0], []).append((k, t._edge[1]))

    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    const_ids: dict = {}
    const_nodes: list[GraphNode] = []
    more_edges: dict = {}
    for n in drawn:
        nid = ids[n]
        node_norms = norms.get(n) if norms is not None else None
        if norms is not None and node_norms is None:
            node_norms = (None,) * n.n_out
        if type(n) is Leaf:
            nodes.append(_leaf_node(n, nid, names, leaf_data, marks.get(n, ()), node_norms))
            continue
        folded = []
        for i, e in enumerate(n.edges):
            if e is not None:
                p = e[0]
                if p in ids:
                    edges.append(GraphEdge(ids[p], nid, e[1], i))
                else:
                    more_edges.setdefault(nid, i)
                folded.append("·")
                continue
            a = None if n.args is None else n.args[i]
            if constants and (isinstance(a, Tensor) or _is_arraylike(a)):
                cid = const_ids.get(id(a))
                if cid is None:
                    cid = const_ids[id(a)] = f"c{len(const_ids)}"
                    const_nodes.append(_const_node(a, cid, n.b.device, names))
                edges.append(GraphEdge(cid, nid, 0, i))
                folded.append("·")
            else:
                folded.append("?" if n.args is None else _short(a))
        nodes.append(_op_node(n, nid, folded, names, known, marks.get(n, ()), node_norms, show_saved))
    nodes.extend(const_nodes)
    hidden = len(order) - len(drawn)
    if hidden:
        nodes.append(GraphNode(id="more", kind="more",
                               label=f"… {hidden} more node{'s' if hidden != 1 else ''} not drawn\n"
                                     f"(max_nodes={max_nodes})"))
        edges.extend(GraphEdge("more", dst, 0, i) for dst, i in more_edges.items())
    if norms is None:
        scale = None
    elif norm_range is not None:
        scale = (float(norm_range[0]), float(norm_range[1]))
    else:
        found = [v for vs in norms.values() for v in vs if v is not None and math.isfinite(v) and v > 0]
        scale = (math.log10(min(found)), math.log10(max(found))) if found else (0.0, 0.0)
    g = Graph(nodes, edges, scale)
    g._fixed_scale = norm_range is not None
    return g


def _leaf_node(n: Any, nid: str, names: dict, leaf_data: dict, marks: Any, norms: Any) -> GraphNode:
    t = n.tensor()
    if t is not None:
        shape, dtype, device = tuple(t.shape), _dtype_name(t.dtype), t.device
    elif n in leaf_data:
        r, b = leaf_data[n]
        shape, dtype, device = tuple(int(s) for s in r.shape), _dtype_name(r.dtype), b.device
    else:
        shape = dtype = device = None
    name = names.get((n, 0))
    lines = [name or "leaf"]
    lines.append("(tensor released)" if shape is None else f"{_shape_text(shape)} {dtype} {device}")
    lines.append("requires grad")
    lines += _mark_lines(marks, 1)
    if norms is not None:
        lines.append(_norm_text(norms[0]))
    return GraphNode(id=nid, kind="leaf", label="\n".join(lines), name=name, shapes=(shape,), dtypes=(dtype,),
                     device=device, requires_grad=True, outputs=tuple(marks), grad_norms=norms)


def _const_node(a: Any, cid: str, device: str, names: dict) -> GraphNode:
    if isinstance(a, Tensor):
        device = a.device
    shape, dtype = tuple(int(s) for s in a.shape), _dtype_name(a.dtype)
    name = names.get(("constant", id(a)))
    label = f"{name or 'constant'}\n{_shape_text(shape)} {dtype} {device}"
    return GraphNode(id=cid, kind="constant", label=label, name=name, shapes=(shape,), dtypes=(dtype,),
                     device=device)


_DEFAULTS: dict = {}


def _defaults(op: Any) -> dict:
    """The default values of an op's static parameters (parameters left at them are not drawn)."""
    d = _DEFAULTS.get(op)
    if d is None:
        try:
            ps = inspect.signature(op).parameters.values()
            d = {p.name: p.default for p in ps if p.default is not p.empty}
        except (TypeError, ValueError):
            d = {}
        _DEFAULTS[op] = d
    return d


def _is_default(v: Any, default: Any) -> bool:
    if v is default:
        return True
    if isinstance(v, (bool, int, float, str, tuple)) and type(v) is type(default):
        return v == default
    return False


def _op_node(n: Any, nid: str, folded: list, names: dict, known: dict, marks: Any, norms: Any,
             show_saved: bool) -> GraphNode:
    call = n.op.name
    defaults = _defaults(n.op)
    # Parameters left at their defaults, None, or private (custom_vjp's residuals) are not drawn.
    extra = [f"{k}={_short(v)}" for k, v in (n.params or {}).items()
             if v is not None and not k.startswith("_")
             and not (k in defaults and _is_default(v, defaults[k]))]
    while folded and folded[-1] == "None":   # optional inputs left out (cross_entropy's weight)
        folded.pop()
    if extra or any(f != "·" for f in folded):
        call = f"{call}({', '.join(folded + extra)})"
        if len(call) > 60:
            call = call[:59] + "…"
    if n.out is not None:
        shapes, dtypes, device = _describe_outputs(n)
    elif n.meta and "viz" in n.meta:
        shapes, dtypes, device = n.meta["viz"]
    else:
        shapes = tuple(known.get((n, i), (None,))[0] for i in range(n.n_out))
        dtypes = tuple(known.get((n, i), (None, None))[1] for i in range(n.n_out))
        device = next((known[(n, i)][2] for i in range(n.n_out) if (n, i) in known), n.b.device)
    lines = [call]
    named = [names[(n, i)] for i in range(n.n_out) if (n, i) in names]
    if named:
        lines.append(" = ".join(named) if n.n_out == 1 else
                     ", ".join(f"[{i}] {names[(n, i)]}" for i in range(n.n_out) if (n, i) in names))
    where = device if device == n.b.device else f"{n.b.device} → {device}"
    if n.n_out == 1:
        lines.append(f"(shape freed) {where}" if shapes[0] is None else
                     f"{_shape_text(shapes[0])} {dtypes[0]} {where}")
    else:
        for i, (s, d) in enumerate(zip(shapes, dtypes)):
            lines.append(f"[{i}] freed" if s is None else f"[{i}] {_shape_text(s)} {d}")
        lines.append(where)
    lines += _mark_lines(marks, n.n_out)
    saved = None
    if show_saved:
        if n.freed:
            lines.append("saved values freed")
        else:
            from .profiler import memory_block   # views of one buffer count once, as in memory reports

            held = {id(a): a for a in (*n.raw, *(n.out if n.n_out > 1 else (n.out,))) if _is_arraylike(a)}
            saved = sum(dict(memory_block(a) for a in held.values()).values())
            lines.append(f"holds {len(held)} array{'s' if len(held) != 1 else ''}, {_bytes_text(saved)}")
    if norms is not None:
        lines += [_norm_text(v) if n.n_out == 1 else f"[{i}] {_norm_text(v)}" for i, v in enumerate(norms)]
    return GraphNode(id=nid, kind="op", label="\n".join(lines), op=n.op.name, name=" = ".join(named) or None,
                     shapes=shapes, dtypes=dtypes, device=device, requires_grad=True, outputs=tuple(marks),
                     freed=bool(n.freed), saved_bytes=saved, grad_norms=norms)


def _mark_lines(marks: Any, n_out: int) -> list:
    return [f"output {k}" if n_out == 1 else f"output {k} = [{i}]" for k, i in marks]


# ---------------------------------------------------------------------------
# the result
# ---------------------------------------------------------------------------

class Graph:
    """A drawn graph: ``nodes`` and ``edges`` as data, ``source`` as DOT text, pictures by ``render``.

    >>> import xpgrad as xg
    >>> x = xg.asarray([[1.0, 2.0]], requires_grad=True)
    >>> g = xg.viz.graph(x @ xg.asarray([[1.0], [1.0]]))
    >>> [(e.src, e.dst) for e in g.edges]
    [('n1', 'n0'), ('c0', 'n0')]
    >>> g.source.startswith("digraph xpgrad {")
    True
    """

    def __init__(self, nodes: list[GraphNode], edges: list[GraphEdge],
                 scale: tuple[float, float] | None = None) -> None:
        self.nodes = nodes
        self.edges = edges
        self.scale = scale   # (lo, hi) exponents of ten of the colour scale under grad_norms, else None
        self._source: str | None = None
        self._fixed_scale = False   # norm_range was given: the legend shows its scale even without norms

    def __repr__(self) -> str:
        kinds = [n.kind for n in self.nodes]
        ops, leaves, consts = kinds.count("op"), kinds.count("leaf"), kinds.count("constant")
        more = " (some not drawn)" if "more" in kinds else ""
        leaf_word = "leaf" if leaves == 1 else "leaves"
        const_word = "constant" if consts == 1 else "constants"
        return (f"<Graph: {ops + leaves + consts} nodes ({ops} ops, {leaves} {leaf_word}, "
                f"{consts} {const_word}){more}, {len(self.edges)} edges>")

    def __str__(self) -> str:
        return self.source

    def __iter__(self) -> Iterator[GraphNode]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def source(self) -> str:
        """The graph as Graphviz DOT text (built once)."""
        if self._source is None:
            self._source = "\n".join(self._dot_lines()) + "\n"
        return self._source

    def _dot_lines(self) -> Iterator[str]:
        yield "digraph xpgrad {"
        yield '  graph [rankdir=TB, nodesep=0.25, ranksep=0.3, fontname="Helvetica", fontsize=10];'
        yield ('  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, '
               f'color="#555555", fillcolor="{_FILL_OP}"];')
        yield '  edge [color="#666666", arrowsize=0.6];'
        lo, hi = self.scale if self.scale is not None else (0.0, 0.0)
        for n in self.nodes:
            attrs = {"label": n.label}
            if n.kind == "constant":
                attrs.update(shape="box", style="filled", fillcolor=_FILL_CONST, color="#aaaaaa",
                             fontcolor="#555555", fontsize="8", margin="0.04,0.02", height="0.2")
            elif n.kind == "more":
                attrs.update(shape="note", style="dashed", fillcolor="#ffffff")
            else:
                if self.scale is not None:
                    v = _headline_norm(n.grad_norms)
                    attrs.update(fillcolor=norm_color(v, lo, hi), fontcolor=_text_color(v, lo, hi))
                elif n.kind == "leaf":
                    attrs["fillcolor"] = _FILL_PARAM if n.name else _FILL_LEAF
                if n.kind == "leaf":
                    attrs["shape"] = "box"
                    attrs["style"] = "filled"
                if n.freed:
                    attrs["style"] = attrs.get("style", "rounded,filled") + ",dashed"
                if n.outputs:
                    attrs.update(color=_OUTPUT_PEN, penwidth="2.5")
            yield f"  {n.id} [{_attrs(attrs)}];"
        multi = {n.id for n in self.nodes if len(n.shapes) > 1}
        for e in self.edges:
            label = self._edge_label(e, multi)
            extra = f" [{_attrs({'label': label, 'fontsize': '8'})}]" if label else ""
            yield f"  {e.src} -> {e.dst}{extra};"
        if self.scale is not None:
            yield from _legend(lo, hi, self._fixed_scale or self._has_finite())
        yield "}"

    def _has_finite(self) -> bool:
        """Whether some node has a finite non-zero gradient norm (else the legend shows no scale)."""
        return any(v is not None and math.isfinite(v) and v > 0
                   for n in self.nodes for v in (n.grad_norms or ()))

    def _edge_label(self, e: GraphEdge, multi: set) -> str:
        return f"[{e.output}]" if e.src in multi else ""   # which output of a multi-output op

    # -- pictures ------------------------------------------------------------
    def pipe(self, format: str = "svg", *, timeout: float | None = None) -> bytes:
        """The picture as bytes, made by Graphviz's ``dot`` (``format``: svg, png or pdf)."""
        fmt = _check_format(format)
        if fmt == "dot":
            return self.source.encode("utf-8")
        exe = _dot_binary(fmt)
        try:
            proc = subprocess.run([exe, f"-T{fmt}"], input=self.source.encode("utf-8"), capture_output=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise GraphvizError(f"dot -T{fmt} took longer than {timeout} s on a graph of {len(self.nodes)} "
                                "nodes; draw fewer (graph(..., max_nodes=...)) or allow longer") from None
        except OSError as exc:
            raise GraphvizError(f"could not run Graphviz's dot ({exe}): {exc}; {_INSTALL}") from exc
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip()[-2000:]
            raise GraphvizError(f"dot -T{fmt} ({exe}) failed with exit status {proc.returncode}: {err}")
        return proc.stdout

    def render(self, path: str | os.PathLike, format: str | None = None, *,
               timeout: float | None = None) -> Path:
        """Write the picture to ``path`` (atomically) and return the path.

        ``format`` is svg, png, pdf or dot (the DOT text, no Graphviz needed);
        by default the path's suffix says, else svg.
        """
        path = Path(path)
        fmt = format if format is not None else (path.suffix[1:].lower() or "svg")
        data = self.pipe(fmt, timeout=timeout)
        atomic_write(path, data)
        return path

    def _repr_svg_(self) -> str | None:
        """Jupyter's inline picture (nothing when Graphviz is not installed: the text repr shows)."""
        if _find_dot() is None:
            return None
        return self.pipe("svg").decode("utf-8")


def _headline_norm(norms: tuple | None) -> float | None:
    """The norm a node is coloured by: non-finite if any output's is, else the largest."""
    if not norms:
        return None
    vals = [v for v in norms if v is not None]
    if not vals:
        return None
    bad = [v for v in vals if not math.isfinite(v)]
    return bad[0] if bad else max(vals)


def _attrs(attrs: dict) -> str:
    return ", ".join(f"{k}={_quote(str(v))}" for k, v in attrs.items())


def _legend(lo: float, hi: float, swatches: bool) -> Iterator[str]:
    yield "  subgraph cluster_legend {"
    yield ('    graph [label="gradient norm (log scale)", fontsize=9, style="rounded", color="#bbbbbb", '
           'fontname="Helvetica"];')
    yield '    node [shape=box, style="filled", fontsize=8, height=0.2, margin="0.06,0.02"];'
    steps = 0 if not swatches else 1 if hi <= lo else 5
    keys = []
    for j in range(steps):
        e = lo if steps == 1 else lo + (hi - lo) * j / (steps - 1)
        v = 10.0 ** e
        keys.append(f"legend{j}")
        attrs = {"label": f"{v:.1e}", "fillcolor": norm_color(v, lo, hi), "fontcolor": _text_color(v, lo, hi)}
        yield f"    legend{j} [{_attrs(attrs)}];"
    keys += ["legend_none", "legend_bad"]
    yield f"    legend_none [{_attrs({'label': 'no gradient', 'fillcolor': _NO_GRAD})}];"
    bad = {"label": "NaN / Inf", "fillcolor": _NONFINITE, "fontcolor": "#ffffff"}
    yield f"    legend_bad [{_attrs(bad)}];"
    yield "    { rank=same; " + "; ".join(keys) + "; }"
    yield "    " + " -> ".join(keys) + " [style=invis];"
    yield "  }"


def _check_format(fmt: Any) -> str:
    f = str(fmt).lower()
    if f not in FORMATS:
        raise VizError(f"cannot draw a graph as {fmt!r}; formats: {', '.join(FORMATS)}")
    return f


def _find_dot() -> str | None:
    env = os.environ.get("GRAPHVIZ_DOT")
    if env:
        return env if os.path.isfile(env) else shutil.which(env)
    return shutil.which("dot")


def _dot_binary(fmt: str) -> str:
    exe = _find_dot()
    if exe is None:
        raise GraphvizError(f"drawing a graph as {fmt} needs Graphviz's dot program, which is not on PATH: "
                            f"{_INSTALL}. The DOT text needs nothing: str(graph), or graph.render('g.dot')")
    return exe
