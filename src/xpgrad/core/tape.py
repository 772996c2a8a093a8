"""Reverse mode: recording op applications and walking them backwards.

``apply(op, args, params)`` is the one path every op call takes. It unwraps
Tensors to backend arrays, runs the op's forward rule with the backend's
namespace, and, when some input requires a gradient, records a :class:`Node`
holding what the VJP rule needs. ``backward`` walks the recorded nodes in
reverse topological order without recursion, calling VJP rules on raw arrays
(first order) or on Tensors with ``xp = xpgrad`` (``create_graph``), so the
backward pass is itself recorded.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .errors import (
    BackwardError,
    DeviceMismatchError,
    GraphFreedError,
    InplaceError,
    NotDifferentiableError,
    OpError,
    XpgradError,
    describe,
)
from .tensor import _NAMESPACE, Leaf, Tensor

__all__ = ["Node", "apply", "backward", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "state"]


class _State(threading.local):
    grad_enabled = True
    next_level = 1  # forward-mode levels, one per active jvp transform
    depth = 0       # how many functional transforms are running (they nest)


state = _State()

# Global count of in-place writes; a node remembers the count at its creation,
# a version counter the count at its last write. Only threads that write in
# place move it, and it only ever grows.
_EPOCH = [0]


def is_grad_enabled() -> bool:
    return state.grad_enabled


class set_grad_enabled:
    """Turn recording on or off, as a context manager or a decorator (thread-local).

    >>> with set_grad_enabled(False):
    ...     pass
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(state.grad_enabled)
        state.grad_enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        state.grad_enabled = self.prev.pop()

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(set_grad_enabled):
    """Record nothing inside: ``with xpgrad.no_grad(): ...`` or ``@xpgrad.no_grad()``."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record again inside a ``no_grad`` region."""

    def __init__(self) -> None:
        super().__init__(True)


class Node:
    """One recorded op application: what its VJP rule needs, and where gradients go next."""

    __slots__ = ("op", "params", "args", "raw", "edges", "out", "n_out", "epoch", "vc",
                 "out_tan", "hooks", "freed", "__weakref__")

    def __init__(self, op: Any, params: dict, args: tuple, raw: tuple, edges: tuple,
                 out: Any, n_out: int, vc: list) -> None:
        self.op = op
        self.params = params
        self.args = args      # the inputs as given (Tensors keep version counters and tangents)
        self.raw = raw        # the inputs as backend arrays, as the forward rule saw them
        self.edges = edges    # per input: (node, output index) or None
        self.out = out        # the output array(s)
        self.n_out = n_out
        self.epoch = _EPOCH[0]
        self.vc = vc          # version counter of the output(s)
        self.out_tan = None
        self.hooks = None
        self.freed = False

    def __repr__(self) -> str:
        return f"<Node {self.op.name}>"

    @property
    def name(self) -> str:
        return self.op.name

    def check_versions(self) -> None:
        e = self.epoch
        if self.vc[0] > e:
            raise InplaceError(
                f"an output of '{self.op.name}' was modified in place after it was saved for backward; "
                "make the change out of place (y = y + 1) or call .clone() before modifying")
        for i, a in enumerate(self.args):
            if isinstance(a, Tensor) and a._vc is not None and a._vc[0] > e:
                raise InplaceError(
                    f"input {i} of '{self.op.name}' ({describe(a)}) was modified in place after it was "
                    "saved for backward; make the change out of place or call .clone() before modifying")


# ---------------------------------------------------------------------------
# the forward path
# ---------------------------------------------------------------------------

def _mismatch(op: Any, args: Sequence) -> DeviceMismatchError:
    devs = [f"input {i}: {a.device}" for i, a in enumerate(args) if isinstance(a, Tensor)]
    first = next(a.device for a in args if isinstance(a, Tensor))
    return DeviceMismatchError(
        f"'{op.name}' got tensors on different devices ({'; '.join(devs)}); move one with "
        f"x.to_device({first!r}) so that all inputs share a device")


def op_error(op: Any, args: Sequence, params: dict, exc: BaseException) -> OpError:
    ins = ", ".join(describe(a) for a in args)
    ps = "".join(f", {k}={v!r}" for k, v in params.items())
    return OpError(f"'{op.name}' cannot be applied to ({ins}{ps}): {exc}")


def apply(op: Any, args: tuple, params: dict) -> Any:
    """Run ``op`` on ``args`` (Tensors, backend arrays or Python scalars) and record it if needed."""
    b = None
    tan = False
    any_edge = False
    n = len(args)
    if n == 1:
        a = args[0]
        if isinstance(a, Tensor):
            b = a._b
            raw = (a.data,)
            e = a._edge
            edges = (e,)
            any_edge = e is not None
            tan = a._tan is not None
        else:
            raw = args
            edges = (None,)
    elif n == 2:
        a0, a1 = args
        if isinstance(a0, Tensor):
            b = a0._b
            r0 = a0.data
            e0 = a0._edge
            tan = a0._tan is not None
        else:
            r0 = a0
            e0 = None
        if isinstance(a1, Tensor):
            if b is None:
                b = a1._b
            elif a1._b is not b:
                raise _mismatch(op, args)
            r1 = a1.data
            e1 = a1._edge
            tan = tan or a1._tan is not None
        else:
            r1 = a1
            e1 = None
        raw = (r0, r1)
        edges = (e0, e1)
        any_edge = e0 is not None or e1 is not None
    else:
        rl = []
        el = []
        for a in args:
            if isinstance(a, Tensor):
                if b is None:
                    b = a._b
                elif a._b is not b:
                    raise _mismatch(op, args)
                rl.append(a.data)
                e = a._edge
                el.append(e)
                if e is not None:
                    any_edge = True
                if a._tan is not None:
                    tan = True
            else:
                rl.append(a)
                el.append(None)
        raw = tuple(rl)
        edges = tuple(el)
    if b is None:
        from .device import backend_of, default_backend
        b = next((backend_of(r) for r in raw if hasattr(r, "__array_namespace__")), None) \
            or default_backend()

    fwd = op.kernels.get(b, op.forward) if op.kernels else op.forward
    try:
        out = fwd(b.xp, *raw, **params)
    except XpgradError:
        raise
    except Exception as exc:  # the backend's own error, reworded with op, shapes, dtypes, devices
        raise op_error(op, args, params, exc) from exc

    if op.out_backend is not None:  # device transfers: the result lives elsewhere
        b = op.out_backend(params)
    if type(out) is tuple:
        return _finish_multi(op, args, params, raw, edges, out, b, any_edge, tan)
    if type(out) not in b.array_types:
        out = b.wrap(out)
    if any_edge and state.grad_enabled and op.differentiable and b.is_floating(out.dtype):
        if op.view:
            vc = args[0]._share_vc() if isinstance(args[0], Tensor) else [0, 0]
        else:
            vc = [0, 0]
        node = Node(op, params, args, raw, edges, out, 1, vc)
        result = Tensor._make(out, b, (node, 0))
        result._vc = vc
    else:
        node = None
        result = Tensor._make(out, b)
        if op.view and isinstance(args[0], Tensor):
            result._vc = args[0]._share_vc()
    if tan and op.differentiable:
        from .forward import propagate

        propagate(op, args, params, (result,), node)
    return result


def _finish_multi(op: Any, args: tuple, params: dict, raw: tuple, edges: tuple, outs: tuple,
                  b: Any, any_edge: bool, tan: bool) -> tuple:
    outs = tuple(o if type(o) in b.array_types else b.wrap(o) for o in outs)
    record = any_edge and state.grad_enabled and op.differentiable
    vc = [0, 0]
    node = Node(op, params, args, raw, edges, outs, len(outs), vc) if record else None
    results = []
    for i, o in enumerate(outs):
        if node is not None and b.is_floating(o.dtype):
            t = Tensor._make(o, b, (node, i))
            t._vc = vc
        else:
            t = Tensor._make(o, b)
        results.append(t)
    results = tuple(results)
    if tan and op.differentiable:
        from .forward import propagate

        propagate(op, args, params, results, node)
    return results


# ---------------------------------------------------------------------------
# the backward path
# ---------------------------------------------------------------------------

def _as_tensor_arg(node: Node, i: int, b: Any) -> Any:
    """Input ``i`` of ``node`` as a Tensor with its graph edge and tangents (create_graph mode)."""
    a = node.args[i]
    r = node.raw[i]
    if isinstance(a, Tensor):
        if a.data is r and a._edge is node.edges[i]:
            return a
        t = Tensor._make(r, b, node.edges[i])
        t._tan = a._tan
        return t
    return a


def _out_tensor(node: Node, b: Any) -> Any:
    if node.n_out == 1:
        t = Tensor._make(node.out, b, (node, 0))
        t._tan = node.out_tan
        return t
    tans = node.out_tan or (None,) * node.n_out
    res = []
    for i, o in enumerate(node.out):
        t = Tensor._make(o, b, (node, i) if b.is_floating(o.dtype) else None)
        t._tan = tans[i]
        res.append(t)
    return tuple(res)


def _unbroadcast(xp: Any, ct: Any, shape: tuple) -> Any:
    """Sum a cotangent back to an input's shape (broadcasting is undone here, once)."""
    extra = len(ct.shape) - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, s in enumerate(shape) if s == 1 and ct.shape[i + extra] != 1)
    if axes:
        ct = xp.sum(ct, axis=axes, keepdims=True)
    if extra or ct.shape != tuple(shape):
        ct = xp.reshape(ct, tuple(shape))
    return ct


def _input_cotangents(node: Node, g: Any, tensor_mode: bool, b: Any, needed: Any) -> list:
    """Cotangents for each input of ``node`` (``None`` where no gradient flows)."""
    op = node.op
    edges = node.edges
    if tensor_mode:
        xp = _NAMESPACE[0]
        args = [_as_tensor_arg(node, i, b) for i in range(len(edges))]
        out = _out_tensor(node, b)
    else:
        xp = b.xp
        args = node.raw
        out = node.out
    params = node.params
    vjps = op.vjps
    if vjps is not None:
        cts = []
        for i, e in enumerate(edges):
            if e is None or (needed is not None and e[0] not in needed):
                cts.append(None)
                continue
            rule = vjps[i] if i < len(vjps) else vjps[-1]
            if rule is None:
                cts.append(None)
                continue
            cts.append(rule(xp, g, out, *args, **params))
    else:
        cts = op.vjp(xp, g, out, *args, **params)
        if type(cts) is not tuple and type(cts) is not list:
            cts = (cts,)
        if len(cts) != len(edges):
            raise BackwardError(
                f"the VJP rule of '{op.name}' returned {len(cts)} cotangents for {len(edges)} inputs")
        cts = list(cts)
    raw = node.raw
    for i, ct in enumerate(cts):
        if ct is None or edges[i] is None:
            cts[i] = None
            continue
        r = raw[i]
        shape = r.shape
        cshape = ct.shape if tensor_mode else getattr(ct, "shape", None)
        if cshape is None:  # a Python scalar from a rule; make it an array of the input's dtype
            ct = xp.full(tuple(shape), ct, dtype=r.dtype) if not tensor_mode else \
                xp.full(tuple(shape), ct, dtype=r.dtype, device=b.device)
        elif tuple(cshape) != tuple(shape):
            if op.broadcasting:
                ct = _unbroadcast(xp, ct, tuple(shape))
            else:
                raise BackwardError(
                    f"the VJP rule of '{op.name}' returned a cotangent of shape {tuple(cshape)} for "
                    f"input {i} of shape {tuple(shape)}")
        if ct.dtype != r.dtype and b.is_floating(r.dtype):
            ct = xp.astype(ct, r.dtype)
        cts[i] = ct
    return cts


def _run_hooks(hooks: list, g: Any, tensor_mode: bool, b: Any) -> Any:
    gt = g if tensor_mode else Tensor._make(g, b)
    for h in list(hooks):
        r = h(gt)
        if r is not None:
            gt = r if isinstance(r, Tensor) else Tensor(r, device=b.device)
    return gt if tensor_mode else gt.data


def backward(roots: Sequence[Tensor], cotangents: Sequence[Any] | None = None, *,
             inputs: Sequence[Tensor] | None = None, retain_graph: bool | None = None,
             create_graph: bool | None = False, allow_unused: bool = True) -> list | None:
    """Propagate cotangents from ``roots`` back through the recorded graph.

    With ``inputs=None`` gradients accumulate into ``.grad`` of every leaf that
    requires grad (``Tensor.backward``). With ``inputs`` given, nothing is
    accumulated: the cotangents reaching those tensors are returned, and only
    the part of the graph between roots and inputs is walked
    (``xpgrad.autograd.grad``). ``create_graph=None`` decides by itself: the
    backward pass is recorded when a gradient must itself be differentiable
    (an outer transform is running, or the walked graph touches tensors that
    require grad beyond ``inputs``).
    """
    roots = list(roots)
    if cotangents is None:
        cotangents = [None] * len(roots)
    if retain_graph is None:
        retain_graph = bool(create_graph)
    grads: dict = {}
    root_nodes = []
    for r, c in zip(roots, cotangents):
        if not isinstance(r, Tensor) or r._edge is None:
            raise BackwardError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "has requires_grad=True (or it ran under no_grad())")
        if c is None:
            if r.size != 1:
                raise BackwardError(
                    f"backward() on a tensor of shape {r.shape} needs `grad`, a cotangent of the same "
                    "shape (implicit ones are only created for tensors with one element)")
            c = r._b.xp.ones_like(r.data)
        else:
            c = c.data if isinstance(c, Tensor) and not create_graph else c
            if not isinstance(c, Tensor) and type(c) not in r._b.array_types:
                c = r._b.asarray(c, dtype=r.dtype)
            if tuple(c.shape) != r.shape:
                raise BackwardError(
                    f"backward(): grad has shape {tuple(c.shape)} but the tensor has shape {r.shape}")
        node, idx = r._edge
        _accum(grads, node, idx, c)
        root_nodes.append(node)

    # Topological order by consumer counts (Kahn), iteratively: no recursion limit.
    deps: dict = {}
    seen = set(root_nodes)
    stack = list(seen)
    order_needed = inputs is not None or create_graph is None
    while stack:
        node = stack.pop()
        for e in node.edges:
            if e is not None:
                p = e[0]
                deps[p] = deps.get(p, 0) + 1
                if p not in seen:
                    seen.add(p)
                    stack.append(p)

    targets = None
    needed = None
    if inputs is not None:
        targets = {}
        for j, t in enumerate(inputs):
            if not isinstance(t, Tensor) or t._edge is None:
                raise NotDifferentiableError(
                    f"input {j} ({describe(t)}) does not require grad, so no gradient can reach it")
            targets.setdefault(t._edge[0], []).append((j, t._edge[1]))
    if order_needed:
        needed, outside = _needed(root_nodes, deps, targets)
        if create_graph is None:
            create_graph = bool(state.grad_enabled and (state.depth > 1 or outside))
    tensor_mode = bool(create_graph)
    if tensor_mode:
        b0 = roots[0]._b
        for k, v in list(grads.items()):
            grads[k] = _wrap_ct(v, b0)

    results: list = [None] * len(inputs) if inputs is not None else None
    ready = [n for n in seen if n not in deps]
    ctx = set_grad_enabled(tensor_mode)
    ctx.__enter__()
    try:
        while ready:
            node = ready.pop()
            g = grads.pop(node, None)
            if node.hooks and g is not None:
                g = _apply_hooks(node, g, tensor_mode, roots[0]._b)
            if targets is not None and node in targets:
                for j, idx in targets[node]:
                    gi = g if node.n_out == 1 else (g[idx] if g is not None else None)
                    results[j] = gi
            if type(node) is Leaf:
                if targets is None and g is not None:
                    _accumulate_leaf(node, g, tensor_mode)
                continue
            for e in node.edges:
                if e is not None:
                    p = e[0]
                    deps[p] -= 1
                    if deps[p] == 0:
                        del deps[p]
                        ready.append(p)
            if g is None or (needed is not None and node not in needed):
                continue
            if node.freed:
                raise GraphFreedError(
                    f"backward reached '{node.op.name}' a second time, but its saved values were "
                    "released after the first backward; pass retain_graph=True to the first call")
            if _EPOCH[0] > node.epoch:
                node.check_versions()
            if node.n_out > 1:
                g = _fill_multi(node, g, tensor_mode)
            b = _node_backend(node, roots[0]._b)
            cts = _input_cotangents(node, g, tensor_mode, b, needed)
            for e, ct in zip(node.edges, cts):
                if ct is not None:
                    _accum(grads, e[0], e[1], ct)
            if not retain_graph:
                node.raw = node.args = node.out = node.out_tan = None
                node.freed = True
    finally:
        ctx.__exit__(None, None, None)
    if inputs is None:
        return None
    out = []
    for j, (t, g) in enumerate(zip(inputs, results)):
        if g is None:
            if not allow_unused:
                raise BackwardError(f"input {j} ({describe(t)}) was not used to compute the outputs")
            out.append(None)
        else:
            out.append(g if isinstance(g, Tensor) else Tensor._make(g, t._b))
    return out


def _wrap_ct(v: Any, b: Any) -> Any:
    if isinstance(v, list):
        return [None if x is None else _wrap_ct(x, b) for x in v]
    return v if isinstance(v, Tensor) else Tensor._make(v, b)


def _node_backend(node: Node, default: Any) -> Any:
    for a in node.args:
        if isinstance(a, Tensor):
            return a._b
    return default


def _needed(root_nodes: list, deps: dict, targets: dict | None) -> tuple[set | None, bool]:
    """Nodes from which some target is reachable, and whether the walk leaves that region."""
    # Post-order without recursion: a node is needed if it is a target or any parent is needed.
    order: list = []
    visited: set = set()
    for r in root_nodes:
        if r in visited:
            continue
        stack = [(r, iter(r.edges))]
        visited.add(r)
        while stack:
            node, it = stack[-1]
            for e in it:
                if e is not None and e[0] not in visited:
                    visited.add(e[0])
                    stack.append((e[0], iter(e[0].edges)))
                    break
            else:
                stack.pop()
                order.append(node)
    if targets is None:
        return None, False
    needed: set = set()
    outside = False
    for node in order:  # parents come before children
        if node in targets or any(e is not None and e[0] in needed for e in node.edges):
            needed.add(node)
    for node in order:
        if node in needed:
            for e in node.edges:
                if e is not None and e[0] not in needed:
                    outside = True
    return needed, outside


def _accum(grads: dict, node: Any, idx: int, ct: Any) -> None:
    if node.n_out == 1:
        prev = grads.get(node)
        grads[node] = ct if prev is None else prev + ct
    else:
        slot = grads.get(node)
        if slot is None:
            slot = grads[node] = [None] * node.n_out
        slot[idx] = ct if slot[idx] is None else slot[idx] + ct


def _fill_multi(node: Node, g: list, tensor_mode: bool) -> tuple:
    """Multi-output nodes: outputs that got no cotangent get ``None`` (symbolic zero)."""
    return tuple(g)


def _apply_hooks(node: Any, g: Any, tensor_mode: bool, b: Any) -> Any:
    if type(node) is Leaf:
        t = node.tensor()
        return _run_hooks(node.hooks, g, tensor_mode, t._b if t is not None else b)
    if node.n_out == 1:
        hooks = node.hooks.get(0)
        return _run_hooks(hooks, g, tensor_mode, b) if hooks else g
    g = list(g)
    for idx, hooks in node.hooks.items():
        if hooks and g[idx] is not None:
            g[idx] = _run_hooks(hooks, g[idx], tensor_mode, b)
    return g


def _accumulate_leaf(leaf: Leaf, g: Any, tensor_mode: bool) -> None:
    t = leaf.tensor()
    if t is None:
        return
    b = t._b
    if not tensor_mode:
        # Own the buffer: a rule may hand the same array (or a view of it) to several leaves.
        g = Tensor._make(b.xp.asarray(g, copy=True), b)
    if t.grad is None:
        t.grad = g
    else:
        with set_grad_enabled(tensor_mode):
            t.grad = t.grad + g


# ---------------------------------------------------------------------------
# in-place updates
# ---------------------------------------------------------------------------

def mark_written(t: Tensor) -> None:
    """Record an in-place write into ``t``'s buffer (and every view sharing it)."""
    _EPOCH[0] += 1
    vc = t._vc
    if vc is None:
        vc = t._vc = [0, 0]
    vc[0] = _EPOCH[0]


def recording(*args: Any) -> bool:
    """Whether an op on ``args`` would be recorded (reverse or forward mode)."""
    if not state.grad_enabled:
        return any(isinstance(a, Tensor) and a._tan is not None for a in args)
    return any(isinstance(a, Tensor) and (a._edge is not None or a._tan is not None) for a in args)


def rebind(target: Tensor, result: Tensor) -> Tensor:
    """Make ``target`` the recorded result of an in-place op computed out of place."""
    if target._edge is not None and type(target._edge[0]) is Leaf:
        raise InplaceError(
            f"in-place change of a leaf tensor that requires grad ({describe(target)}); do it under "
            "`with xpgrad.no_grad():` (as optimizers do) or work on a copy")
    if target._vc is not None and target._vc[1]:
        raise InplaceError(
            f"in-place change of a tensor that shares memory with a view ({describe(target)}) while "
            "gradients are recorded; call .clone() first or write it out of place")
    target.data = result.data
    target._edge = result._edge
    target._tan = result._tan
    target._vc = result._vc
    return target


def snapshot(t: Tensor) -> Tensor:
    """A second Tensor object standing for ``t``'s current value in the graph."""
    s = Tensor._make(t.data, t._b, t._edge)
    s._tan = t._tan
    s._vc = t._vc
    return s


def iter_tensors(tree: Any) -> Iterable[Tensor]:
    if isinstance(tree, Tensor):
        yield tree
    elif isinstance(tree, (list, tuple)):
        for x in tree:
            yield from iter_tensors(x)
    elif isinstance(tree, dict):
        for x in tree.values():
            yield from iter_tensors(x)
