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
from collections.abc import Callable, Sequence
from typing import Any

from .errors import (
    BackwardError,
    DeviceMismatchError,
    DTypeError,
    GraphFreedError,
    IndexOutOfBoundsError,
    InplaceError,
    NotDifferentiableError,
    ShapeError,
    OpError,
    XpgradError,
    describe,
)
from .dispatch import RESOURCE_ERRORS, Dispatcher
from .tensor import _NAMESPACE, Leaf, Tensor
from .zero import ZERO

__all__ = ["Node", "apply", "backward", "unbroadcast", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "state", "Observer", "Override", "observe", "observers", "replace_observers"]


class _State(threading.local):
    grad_enabled = True
    next_level = 1  # forward-mode levels, one per active jvp transform
    depth = 0       # how many functional transforms are running (they nest)
    observers: tuple = ()   # this thread's Observers, outermost first (see ``observe``)
    in_observer = False     # an observer's own callback is running: its ops are not observed


state = _State()

# How many observers are installed, over all threads: while it is 0, ``apply`` and the
# backward walk pay one list read for the whole observer machinery.
_OBSERVING = [0]
_OBSERVING_LOCK = threading.Lock()

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

    One instance may be shared between threads (``NG = no_grad()`` at module
    level): the mode to restore is kept per thread, on the thread-local state.
    """

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        stack = state.__dict__.setdefault("saved_modes", [])
        stack.append(state.grad_enabled)
        state.grad_enabled = self.mode

    def __exit__(self, *exc: Any) -> None:
        state.grad_enabled = state.saved_modes.pop()

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

    __slots__ = ("op", "params", "args", "raw", "edges", "out", "n_out", "epoch", "vc", "b",
                 "out_tan", "hooks", "freed", "meta", "__weakref__")

    def __init__(self, op: Any, params: dict, args: tuple, raw: tuple, edges: tuple,
                 out: Any, n_out: int, vc: list, b: Any) -> None:
        self.op = op
        self.b = b            # the backend the VJP runs on (the inputs')
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
        self.meta = None      # observers' notes: {name: value} (the call's stack, a profiler's id)

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


def op_error(op: Any, args: Sequence, params: dict, exc: BaseException) -> XpgradError:
    """The error for a failed forward: the op's own diagnosis if it has one, else the backend's words."""
    ins = ", ".join(describe(a) for a in args)
    ps = "".join(f", {k}={v!r}" for k, v in params.items())
    from .device import is_array

    bad = [a for a in args if not (a is None or isinstance(a, (Tensor, int, float, complex)) or is_array(a))]
    if bad:  # x * "a", x + [1, 2]: say what is accepted rather than relay the backend's confusion
        return DTypeError(f"'{op.name}' does not take a {type(bad[0]).__name__} operand ({ins}); "
                          "operands are tensors, arrays or Python numbers — wrap data with xpgrad.asarray")
    if op.diagnose is not None:  # the op knows its own shape rules: no generic broadcasting guess
        err = op.diagnose(args, params)
        if err is not None:
            return err
    elif op.broadcasting:
        shapes = [tuple(a.shape) for a in args if hasattr(a, "shape")]
        msg = broadcast_problem(shapes)
        if msg:
            return ShapeError(f"'{op.name}' got ({ins}): {msg}")
    if isinstance(exc, IndexError):
        return IndexOutOfBoundsError(f"'{op.name}' on ({ins}{ps}): {exc}")
    return OpError(f"'{op.name}' cannot be applied to ({ins}{ps}): {exc}")


def broadcast_problem(shapes: Sequence[tuple]) -> str | None:
    """Why ``shapes`` do not broadcast together, or ``None`` if they do."""
    n = max((len(s) for s in shapes), default=0)
    for k in range(1, n + 1):
        sizes = {s[-k] for s in shapes if len(s) >= k and s[-k] != 1}
        if len(sizes) > 1:
            return (f"shapes {', '.join(map(str, shapes))} cannot be broadcast together: axis -{k} "
                    f"has sizes {sorted(sizes)}; sizes must match or be 1")
    return None


def apply(op: Any, args: tuple, params: dict, _fwd: Any = None, _seen: bool = False) -> Any:
    """Run ``op`` on ``args`` (Tensors, backend arrays or Python scalars) and record it if needed.

    ``_fwd`` replaces the kernel (an :class:`Override` from an observer); ``_seen`` marks a call
    the observers have already been shown.
    """
    if _OBSERVING[0] and not _seen and state.observers and not state.in_observer:
        return _observed_apply(op, args, params)
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
        from .device import backend_of, default_backend, is_array
        b = next((backend_of(r) for r in raw if is_array(r)), None) or default_backend()

    fwd = _fwd or (op.kernels.get(b, op.forward) if op.kernels else op.forward)
    if type(fwd) is Dispatcher:   # several kernels: the cheapest for this signature (a dict lookup)
        fwd = fwd.select(raw, params)
    try:
        out = fwd(b.xp, *raw, **params)
    except Exception as exc:
        if isinstance(exc, RESOURCE_ERRORS) and type(op.kernels.get(b)) is Dispatcher:
            out = op.kernels[b].fall_back(b.xp, raw, params, fwd, exc)   # the next-cheapest kernel
        elif isinstance(exc, XpgradError):
            raise
        else:  # the backend's own error, reworded with op, shapes, dtypes, devices
            raise op_error(op, args, params, exc) from exc

    b_in = b
    if op.out_backend is not None:  # device transfers: the result lives elsewhere
        b = op.out_backend(params)
    if type(out) is tuple:
        return _finish_multi(op, args, params, raw, edges, out, b, any_edge, tan, b_in)
    if type(out) not in b.array_types:
        if out is ZERO:  # a single-function JVP multiplied a Tensor by the symbolic zero
            return ZERO
        out = b.wrap(out)
    if any_edge and state.grad_enabled and op.differentiable and b.is_floating(out.dtype):
        if op.view and (op.view is True or op.view(params)):
            vc = args[0]._share_vc() if isinstance(args[0], Tensor) else [0, 0]
        else:
            vc = [0, 0]
        node = Node(op, params, args, raw, edges, out, 1, vc, b_in)
        result = Tensor._make(out, b, (node, 0))
        result._vc = vc
    else:
        node = None
        result = Tensor._make(out, b)
        if op.view and isinstance(args[0], Tensor) and (op.view is True or op.view(params)):
            result._vc = args[0]._share_vc()
    if tan and op.differentiable:
        from .forward import propagate

        propagate(op, args, params, (result,), node)
    return result


def _finish_multi(op: Any, args: tuple, params: dict, raw: tuple, edges: tuple, outs: tuple,
                  b: Any, any_edge: bool, tan: bool, b_in: Any) -> tuple:
    outs = tuple(o if type(o) in b.array_types else b.wrap(o) for o in outs)
    record = any_edge and state.grad_enabled and op.differentiable
    vc = [0, 0]
    node = Node(op, params, args, raw, edges, outs, len(outs), vc, b_in) if record else None
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
# observers: what checkpointing, autocast, anomaly detection and the profiler hook into
# ---------------------------------------------------------------------------

class Override:
    """What :meth:`Observer.before` returns to run a call with other arguments and/or another kernel.

    ``forward(xp, *arrays, **params)`` replaces the op's kernel for this one call
    (a checkpoint replaying a saved result); the call is still recorded as usual.
    """

    __slots__ = ("args", "forward")

    def __init__(self, args: tuple, forward: Callable | None = None) -> None:
        self.args = args
        self.forward = forward


class Observer:
    """Watches, and may steer, every op call and every VJP on the thread that installed it.

    Install one with ``with observe(obs): ...``. Observers nest; ``before`` runs
    outermost first, ``after`` innermost first. Ops an observer's own callbacks
    call are not observed. Every method is optional (these defaults do nothing).

    An observer that changes what ops compute (autocast) sets ``steers = True``:
    checkpointing then reinstalls it while it recomputes a region during backward,
    so the recomputation computes what the forward pass did.
    """

    steers = False
    # Observers that rewrite arguments before anyone else sees them (checkpointing's capture and
    # replay) set ``front = True``: they run before the others, in the order they were installed.
    front = False

    def before(self, op: Any, args: tuple, params: dict) -> "tuple | Override | None":
        """Called before ``op`` runs; return new ``args`` or an :class:`Override` to change the call."""
        return None

    def after(self, op: Any, args: tuple, params: dict, result: Any) -> None:
        """Called with the result (a Tensor or a tuple); its node, when recorded, is ``result._edge[0]``."""

    def before_vjp(self, node: Node, g: Any) -> None:
        """Called before ``node``'s VJP runs on cotangent ``g`` (arrays, or Tensors under create_graph)."""

    def after_vjp(self, node: Node, g: Any, cotangents: list) -> None:
        """Called with the cotangents ``node``'s VJP gave its inputs (``None`` where none flows)."""

    def freed(self, node: Node) -> None:
        """Called when backward releases ``node``'s saved values."""


class observe:
    """``with observe(obs):`` installs an :class:`Observer` on this thread for the block."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer

    def __enter__(self) -> Observer:
        obs = state.observers
        o = self.observer
        if o.front:   # after the front observers already there, before every other
            i = next((k for k, x in enumerate(obs) if not x.front), len(obs))
            _set_observers(obs[:i] + (o,) + obs[i:])
        else:
            _set_observers(obs + (o,))
        return o

    def __exit__(self, *exc: Any) -> None:
        obs = state.observers
        i = len(obs) - 1 - obs[::-1].index(self.observer)
        _set_observers(obs[:i] + obs[i + 1:])


class replace_observers:
    """``with replace_observers(obs):`` runs the block with exactly these observers on this thread."""

    def __init__(self, obs: tuple) -> None:
        self.obs = tuple(obs)

    def __enter__(self) -> None:
        self.saved = state.observers
        _set_observers(self.obs)

    def __exit__(self, *exc: Any) -> None:
        _set_observers(self.saved)


def _set_observers(obs: tuple) -> None:
    with _OBSERVING_LOCK:
        _OBSERVING[0] += len(obs) - len(state.observers)
        state.observers = obs


def observers() -> tuple:
    """The observers installed on this thread, outermost first."""
    return state.observers if _OBSERVING[0] else ()


def _observed_apply(op: Any, args: tuple, params: dict) -> Any:
    # before and after are called from this one frame (and before_vjp/after_vjp from _observed_vjp's):
    # the profiler pairs a call's two callbacks by their caller's frame.
    st = state
    obs = st.observers
    fwd = None
    st.in_observer = True
    try:
        for o in obs:
            r = o.before(op, args, params)
            if r is None:
                continue
            if type(r) is Override:
                args = r.args
                fwd = r.forward or fwd
            else:
                args = tuple(r)
    finally:
        st.in_observer = False
    result = apply(op, args, params, fwd, True)
    st.in_observer = True
    try:
        for o in reversed(obs):
            o.after(op, args, params, result)
    finally:
        st.in_observer = False
    return result


def _observed_vjp(node: Node, g: Any, tensor_mode: bool, needed: Any, obs: tuple) -> list:
    st = state
    st.in_observer = True
    try:
        for o in obs:
            o.before_vjp(node, g)
    finally:
        st.in_observer = False
    cts = _input_cotangents(node, g, tensor_mode, needed)
    st.in_observer = True
    try:
        for o in reversed(obs):
            o.after_vjp(node, g, cts)
    finally:
        st.in_observer = False
    return cts


def _observed_free(node: Node, obs: tuple) -> None:
    st = state
    st.in_observer = True
    try:
        for o in obs:
            o.freed(node)
    finally:
        st.in_observer = False


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


def unbroadcast(xp: Any, ct: Any, shape: tuple) -> Any:
    """Sum a cotangent back to an input's shape (broadcasting is undone here, once)."""
    extra = len(ct.shape) - len(shape)
    axes = tuple(range(extra)) + tuple(
        i + extra for i, s in enumerate(shape) if s == 1 and ct.shape[i + extra] != 1)
    if axes:
        ct = xp.sum(ct, axis=axes, keepdims=True)
    if extra or ct.shape != tuple(shape):
        ct = xp.reshape(ct, tuple(shape))
    return ct


def _fit_cotangent(op: Any, i: int, ct: Any, r: Any, xp: Any, b: Any, tensor_mode: bool) -> Any:
    """Give a rule's cotangent for input ``i`` that input's shape (undoing broadcasting) and dtype."""
    shape = r.shape
    cshape = getattr(ct, "shape", None)
    if cshape is None:  # a Python scalar from a rule: an array of the input's dtype, on its device
        if tensor_mode:
            kw = {"device": b.device}
        else:
            kw = {} if b.native_device is None else {"device": b.native_device}
        return xp.full(tuple(shape), ct, dtype=r.dtype, **kw)
    if cshape != shape and tuple(cshape) != tuple(shape):
        if not op.broadcasting:
            raise BackwardError(
                f"the VJP rule of '{op.name}' returned a cotangent of shape {tuple(cshape)} for "
                f"input {i} of shape {tuple(shape)}")
        ct = unbroadcast(xp, ct, tuple(shape))
    if ct.dtype != r.dtype and b.is_floating(r.dtype):
        if xp.isdtype(ct.dtype, "complex floating") and not xp.isdtype(r.dtype, "complex floating"):
            ct = xp.real(ct)  # a real input's gradient is the real part (conjugate-Wirtinger convention)
        if ct.dtype != r.dtype:
            ct = xp.astype(ct, r.dtype)
    return ct


def _input_cotangents(node: Node, g: Any, tensor_mode: bool, needed: Any) -> list:
    """Cotangents for each input of ``node`` (``None`` where no gradient flows)."""
    op = node.op
    edges = node.edges
    b = node.b
    if tensor_mode:
        xp = _NAMESPACE[0]
        args = [_as_tensor_arg(node, i, b) for i in range(len(edges))]
        out = _out_tensor(node, b)
    else:
        xp = b.xp
        args = node.raw
        out = node.out
    params = node.params
    raw = node.raw
    vjps = op.vjps
    cts: list = [None] * len(edges)
    if vjps is not None:
        for i, e in enumerate(edges):
            if e is None or (needed is not None and e[0] not in needed):
                continue
            rule = rule_for(vjps, i)
            if rule is not None:
                ct = rule(xp, g, out, *args, **params)
                if ct is not None:
                    cts[i] = _fit_cotangent(op, i, ct, raw[i], xp, b, tensor_mode)
        return cts
    got = op.vjp(xp, g, out, *args, **params)
    if type(got) is not tuple and type(got) is not list:
        got = (got,)
    if len(got) != len(edges):
        raise BackwardError(
            f"the VJP rule of '{op.name}' returned {len(got)} cotangents for {len(edges)} inputs")
    for i, (e, ct) in enumerate(zip(edges, got)):
        if e is not None and ct is not None:
            cts[i] = _fit_cotangent(op, i, ct, raw[i], xp, b, tensor_mode)
    return cts


def _run_hooks(hooks: list, g: Any, tensor_mode: bool, b: Any) -> Any:
    gt = g if tensor_mode else Tensor._make(g, b)
    for h in list(hooks):
        r = h(gt)
        if r is not None:
            gt = r if isinstance(r, Tensor) else Tensor(r, device=b.device)
    return gt if tensor_mode else gt.data


def rule_for(rules: tuple, i: int) -> Any:
    """Input ``i``'s rule in a per-input rule tuple; variadic ops reuse the last one for the rest."""
    return rules[i] if i < len(rules) else rules[-1]


def _freed_error(node: Node) -> GraphFreedError:
    return GraphFreedError(
        f"backward reached '{node.op.name}' a second time, but its saved values were released "
        "after the first backward; pass retain_graph=True to the first call")


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
    if (inputs is None and not create_graph and len(roots) == 1
            and (cotangents is None or cotangents[0] is None)):
        r = roots[0]
        e = r._edge if isinstance(r, Tensor) else None
        if e is not None and e[0].n_out == 1 and not r.data.shape \
                and not r._b.is_complex(r.dtype):  # the usual loss.backward()
            node = e[0]
            _walk_plain({node: r._b.ones_like(r.data)}, _consumer_counts([node]), [node],
                        bool(retain_graph))
            return None
    if cotangents is None:
        cotangents = [None] * len(roots)
    grads: dict = {}
    root_nodes = []
    for r, c in zip(roots, cotangents):
        if not isinstance(r, Tensor) or r._edge is None:
            raise BackwardError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "has requires_grad=True (or it ran under no_grad())")
        b = r._b
        if c is None:
            if r.size != 1:
                raise BackwardError(
                    f"backward() on a tensor of shape {r.shape} needs `grad`, a cotangent of the same "
                    "shape (implicit ones are only created for tensors with one element)")
            if b.is_complex(r.dtype):
                raise BackwardError(
                    f"backward() on a complex tensor ({r.dtype}) needs `grad`: implicit ones are only "
                    "created for real outputs; reduce to a real loss first (abs, real, ...)")
            c = b.ones_like(r.data)
        else:
            if not isinstance(c, Tensor) and type(c) not in b.array_types:
                c = b.asarray(c, dtype=r.dtype)
            if tuple(c.shape) != r.shape:
                raise BackwardError(
                    f"backward(): grad has shape {tuple(c.shape)} but the tensor has shape {r.shape}")
        node, idx = r._edge
        _accum(grads, node, idx, c)
        root_nodes.append(node)

    deps = _consumer_counts(root_nodes)
    ready = [n for n in set(root_nodes) if n not in deps]

    if inputs is None and not create_graph:
        for k, v in grads.items():
            if isinstance(v, Tensor):
                grads[k] = v.data
            elif isinstance(v, list):
                grads[k] = [x.data if isinstance(x, Tensor) else x for x in v]
        # The caller's cotangents stay theirs: never adopted as a leaf's .grad.
        given = {id(v): v for v in grads.values()}
        _walk_plain(grads, deps, ready, bool(retain_graph), given)
        return None
    if retain_graph is None:
        retain_graph = bool(create_graph)

    targets = None
    if inputs is not None:
        targets = {}
        for j, t in enumerate(inputs):
            if not isinstance(t, Tensor) or t._edge is None:
                raise NotDifferentiableError(
                    f"input {j} ({describe(t)}) does not require grad, so no gradient can reach it")
            targets.setdefault(t._edge[0], []).append((j, t._edge[1]))
    needed, outside = _needed(root_nodes, targets)
    if create_graph is None:
        create_graph = bool(state.depth > 1 or outside)
    tensor_mode = bool(create_graph)
    b0 = roots[0]._b
    for k, v in list(grads.items()):
        grads[k] = _wrap_ct(v, b0) if tensor_mode else _unwrap_ct(v)

    results: list = [None] * len(inputs) if inputs is not None else []
    obs = observers()
    prev = state.grad_enabled
    state.grad_enabled = tensor_mode
    try:
        while ready:
            node = ready.pop()
            g = grads.pop(node, None)
            if node.hooks and g is not None:
                g = _apply_hooks(node, g, tensor_mode, b0)
            if targets is not None and node in targets:
                for j, idx in targets[node]:
                    results[j] = g if node.n_out == 1 else (g[idx] if g is not None else None)
            if type(node) is Leaf:
                if targets is None and g is not None:
                    _accumulate_leaf(node, g, tensor_mode)
                continue
            for e in node.edges:
                if e is not None:
                    p = e[0]
                    deps[p] -= 1
                    if not deps[p]:
                        ready.append(p)
            if g is None or (needed is not None and node not in needed):
                continue
            if node.freed:
                raise _freed_error(node)
            if _EPOCH[0] > node.epoch:
                node.check_versions()
            if node.n_out > 1:
                g = tuple(g)
            if obs:
                cts = _observed_vjp(node, g, tensor_mode, needed, obs)
            else:
                cts = _input_cotangents(node, g, tensor_mode, needed)
            for e, ct in zip(node.edges, cts):
                if ct is not None:
                    _accum(grads, e[0], e[1], ct)
            if not retain_graph:
                _free(node)
                if obs:
                    _observed_free(node, obs)
    finally:
        state.grad_enabled = prev
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


def _consumer_counts(root_nodes: list) -> dict:
    """How many consumers each node has inside the walked graph (Kahn's algorithm, no recursion).

    A node is processed once all its consumers are done; roots have none.
    """
    deps: dict = {}
    stack = list(dict.fromkeys(root_nodes))
    seen = set(stack)      # a root reached from another root is expanded once, not twice
    while stack:
        for e in stack.pop().edges:
            if e is not None:
                p = e[0]
                if p in deps:
                    deps[p] += 1
                else:
                    deps[p] = 1
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
    return deps


def _walk_plain(grads: dict, deps: dict, ready: list, retain: bool, kept: dict | None = None) -> None:
    """First-order backward into leaves' ``.grad``: rules on raw arrays, nothing recorded.

    The hot loop of training: accumulation and release are inlined on purpose.
    A leaf keeps a fresh cotangent array as its ``.grad`` without copying it when
    the backend says the array owns its memory (``Backend.adoptable``); ``kept``
    remembers what was adopted, so an array a rule handed to two leaves is
    copied for the second.
    """
    kept = {} if kept is None else kept
    st = state
    obs = st.observers if _OBSERVING[0] else ()
    prev = st.grad_enabled
    st.grad_enabled = False
    pop = grads.pop
    get = grads.get
    try:
        while ready:
            node = ready.pop()
            g = pop(node, None)
            if type(node) is Leaf:
                if g is not None:
                    if node.hooks:
                        g = _apply_hooks(node, g, False, None)
                    _adopt_leaf(node, g, kept, copy=bool(node.hooks))
                continue
            edges = node.edges
            for e in edges:
                if e is not None:
                    p = e[0]
                    n = deps[p] - 1
                    deps[p] = n
                    if not n:
                        ready.append(p)
            if g is None:
                continue
            if node.freed:
                raise _freed_error(node)
            if node.hooks:
                g = _apply_hooks(node, g, False, node.b)
            if _EPOCH[0] > node.epoch:
                node.check_versions()
            op = node.op
            vjps = op.vjps
            if obs:
                for e, ct in zip(edges, _observed_vjp(node, tuple(g) if node.n_out > 1 else g,
                                                      False, None, obs)):
                    if ct is not None:
                        _accum(grads, e[0], e[1], ct)
            elif node.n_out == 1 and vjps is not None and len(vjps) == len(edges):
                b = node.b
                xp = b.xp
                raw = node.raw
                out = node.out
                params = node.params
                i = -1
                for e in edges:
                    i += 1
                    if e is None:
                        continue
                    rule = vjps[i]
                    if rule is None:
                        continue
                    ct = rule(xp, g, out, *raw, **params)
                    if ct is None:
                        continue
                    r = raw[i]
                    if getattr(ct, "shape", None) != r.shape or ct.dtype != r.dtype:
                        ct = _fit_cotangent(op, i, ct, r, xp, b, False)
                    p = e[0]
                    if p.n_out == 1:
                        old = get(p)
                        grads[p] = ct if old is None else old + ct
                    else:
                        _accum(grads, p, e[1], ct)
            else:
                if node.n_out > 1:
                    g = tuple(g)
                for e, ct in zip(edges, _input_cotangents(node, g, False, None)):
                    if ct is not None:
                        _accum(grads, e[0], e[1], ct)
            if not retain:
                node.raw = node.args = node.out = node.out_tan = node.params = None
                node.freed = True
                if obs:
                    _observed_free(node, obs)
    finally:
        st.grad_enabled = prev


def _free(node: Node) -> None:
    # params go too: they may hold saved values (custom_vjp's residuals).
    node.raw = node.args = node.out = node.out_tan = node.params = None
    node.freed = True


def _wrap_ct(v: Any, b: Any) -> Any:
    if isinstance(v, list):
        return [None if x is None else _wrap_ct(x, b) for x in v]
    return v if isinstance(v, Tensor) else Tensor._make(v, b)


def _unwrap_ct(v: Any) -> Any:
    if isinstance(v, list):
        return [_unwrap_ct(x) for x in v]
    return v.data if isinstance(v, Tensor) else v


def _needed(root_nodes: list, targets: dict | None) -> tuple[set | None, bool]:
    """Nodes from which some target is reachable, and whether the walk leaves that region."""
    if targets is None:
        return None, False
    # Post-order without recursion: parents come before children.
    order: list = []
    visited: set = set()
    for r in root_nodes:
        if r in visited:
            continue
        visited.add(r)
        stack = [(r, iter(r.edges))]
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
    needed: set = set()
    for node in order:
        if node in targets or any(e is not None and e[0] in needed for e in node.edges):
            needed.add(node)
    outside = any(e is not None and e[0] not in needed
                  for node in needed for e in node.edges)
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


def _apply_hooks(node: Any, g: Any, tensor_mode: bool, b: Any) -> Any:
    if type(node) is Leaf:
        t = node.tensor()
        if t is None:
            return g
        return _run_hooks(node.hooks, g, tensor_mode, t._b)
    if node.n_out == 1:
        hooks = node.hooks.get(0)
        return _run_hooks(hooks, g, tensor_mode, node.b) if hooks else g
    g = list(g)
    for idx, hooks in node.hooks.items():
        if hooks and g[idx] is not None:
            g[idx] = _run_hooks(hooks, g[idx], tensor_mode, node.b)
    return g


def _adopt_leaf(leaf: Leaf, g: Any, kept: dict, copy: bool = False) -> None:
    """Plain mode: ``g`` becomes (or is added to) the leaf's ``.grad``, copied unless adoptable.

    ``copy=True`` always copies (a hook's result may be an array its caller keeps).
    """
    t = leaf.tensor()
    if t is None:
        return
    b = t._b
    if not copy and id(g) not in kept and b.adoptable(g):
        kept[id(g)] = g
    else:
        g = b.copy(g)
    if t.grad is None:
        t.grad = Tensor._make(g, b)
    else:
        prev = state.grad_enabled
        state.grad_enabled = False
        try:
            t.grad = t.grad + Tensor._make(g, b)
        finally:
            state.grad_enabled = prev


def _accumulate_leaf(leaf: Leaf, g: Any, tensor_mode: bool) -> None:
    if not tensor_mode:
        _adopt_leaf(leaf, g, {}, copy=True)
        return
    t = leaf.tensor()
    if t is None:
        return
    if t.grad is None:
        t.grad = g
    else:
        prev = state.grad_enabled
        state.grad_enabled = True
        try:
            t.grad = t.grad + g
        finally:
            state.grad_enabled = prev


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
    return t._alias(t._edge, t._tan)
