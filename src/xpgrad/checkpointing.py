"""Gradient checkpointing: keep a region's inputs, recompute its insides during backward.

``checkpoint(fn, *args)`` runs ``fn`` without recording its intermediate
values. The graph gets one node for the whole region, which holds only what
the region reads from outside (its arguments and the parameters it uses) and
what it returns. When backward reaches that node it runs ``fn`` again, this
time recording, and differentiates the recomputation. Memory for the
region's activations is needed only while its own backward runs; the price is
one more forward pass of the region.

How the region finds what it reads: while ``fn`` runs the first time, an
observer (``core/tape.py``) looks at every op call and notes each tensor from
outside the region that carries a gradient edge or a tangent — arguments and
closed-over parameters alike (JAX's closure conversion, done on the fly). The
recomputation swaps each of them for a stand-in, so the gradients reaching
the stand-ins are the region's input cotangents. Random draws are replayed:
the generators the region drew from are put back to the states they had, so
dropout draws the same mask, and left as they were afterwards. Observers that
change what ops compute (``autocast``) are reinstalled for the recomputation.

Because the region's node has ordinary VJP and JVP rules, checkpointing
composes with everything else: forward mode (the JVP rule recomputes with
tangents), higher order (under ``create_graph`` the recomputation is itself
recorded), nested checkpoints, hooks.

``checkpoint_sequential(layers, segments, x)`` splits a stack of layers into
segments and checkpoints each (all but the last, as PyTorch does). Segments
come from a count, from ``every=N`` layers, or from a cost model: ``auto`` and
``memory_budget_mb`` measure each layer once per input signature (bytes it
would save, bytes of its output, seconds of its forward) and choose the
segmentation by dynamic programming. ``policy="compute"`` keeps the outputs of
compute-bound ops (matmul, linear, convolutions) inside checkpointed regions
and recomputes only the cheap ones (selective checkpointing).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Sequence
from typing import Any

from .core.errors import BackwardError, OpError
from .core.forward import attach, new_level, release_level, tangent_of
from .core.pytree import flatten, unflatten
from .core.registry import ZERO, Op
from .core.tape import (Observer, Override, apply, backward, enable_grad, no_grad, observe, observers,
                        replace_observers)
from .core.tensor import Leaf, Tensor, namespace
from .random import watch_draws

__all__ = ["checkpoint", "checkpoint_sequential", "plan_segments", "SegmentPlan", "LayerCost", "selective",
           "measure_layers", "last_plan", "COMPUTE_BOUND"]

# Ops whose outputs ``policy="compute"`` keeps: recomputing them costs far more than storing them.
COMPUTE_BOUND = frozenset({"matmul", "linear", "affine", "tensordot", "vecdot", "einsum", "conv1d", "conv2d",
                           "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "bilinear"})


# ---------------------------------------------------------------- the region's record

class _Region:
    """What a checkpointed call keeps: how to recompute it, and what it read from outside."""

    __slots__ = ("fn", "args", "kwargs", "ext", "ids", "keep", "streams", "steering", "saved", "calls",
                 "tdef", "where", "n_out", "out")

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.ext: list[Tensor] = []        # outside tensors the region read (edge or tangent)
        self.ids: dict[int, int] = {}      # id(tensor) -> position in ext
        self.keep: list[Tensor] = []       # mapped in ids, not in ext: kept alive so the ids stay theirs
        self.streams: dict[int, tuple] = {}  # id(generator) -> (generator, state before its first draw)
        self.steering = tuple(o for o in observers() if o.steers)
        self.saved: dict[int, Any] = {}    # call number -> output kept by the policy
        self.calls: list[tuple] = []       # (op name, input shapes) per call, to check the replay

    def run(self) -> Any:
        return self.fn(*self.args, **self.kwargs)


class _Capture(Observer):
    """First run: note outside tensors, run on their values alone, keep what the policy asks for."""

    front = True

    def __init__(self, region: _Region, policy: Callable | None) -> None:
        self.r = region
        self.policy = policy
        self.depth = 0   # > 0 inside an op's own call: ops its JVP rules run are not the region's calls
        # Recomputations of enclosing regions running now: the tensors they stand in for are this
        # region's too (its function reads the originals; by its own recomputation they are gone).
        self.outer = [o for o in observers() if type(o) is _Replay]

    def before(self, op: Any, args: tuple, params: dict) -> tuple | None:
        self.depth += 1
        if self.depth > 1:
            return None
        r = self.r
        new = None
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and (a._edge is not None or a._tan is not None):
                if id(a) not in r.ids:
                    r.ids[id(a)] = len(r.ext)
                    r.ext.append(a)
                    self._originals(a)
                if new is None:
                    new = list(args)
                new[i] = a._alias(None, None)   # its value only: nothing recorded, no tangents
        return tuple(new) if new is not None else None

    def _originals(self, a: Tensor) -> None:
        """Map the tensors ``a`` stands in for (through every enclosing recomputation) to ``a``'s slot."""
        r = self.r
        k = r.ids[id(a)]
        found = True
        while found:
            found = False
            for o in self.outer:
                orig = o.origin.get(id(a))
                if orig is not None and id(orig) not in r.ids:
                    r.ids[id(orig)] = k
                    r.keep.append(orig)
                    a, found = orig, True

    def after(self, op: Any, args: tuple, params: dict, result: Any) -> None:
        self.depth -= 1
        if self.depth or op is _CHECKPOINT:
            return
        r = self.r
        k = len(r.calls)
        r.calls.append((op.name, _shapes(args)))
        if self.policy is not None and self.policy(op, args, params):
            r.saved[k] = tuple(t.data for t in result) if type(result) is tuple else result.data

    def draw(self, generator: Any) -> None:
        if id(generator) not in self.r.streams:
            self.r.streams[id(generator)] = (generator, generator.get_state())


class _Replay(Observer):
    """Recomputation: outside tensors become stand-ins; kept outputs are reused, not recomputed."""

    front = True

    def __init__(self, region: _Region, stand: Sequence[Tensor]) -> None:
        self.r = region
        self.stand = stand
        self.k = 0
        self.depth = 0
        self.restore: dict[int, tuple] = {}
        self.origin = {id(t): e for t, e in zip(stand, region.ext)}   # stand-in -> the tensor it replaces

    def before(self, op: Any, args: tuple, params: dict) -> tuple | Override | None:
        self.depth += 1
        if self.depth > 1:
            return None
        r = self.r
        ids = r.ids
        new = None
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and id(a) in ids:
                if new is None:
                    new = list(args)
                new[i] = self.stand[ids[id(a)]]
        args = tuple(new) if new is not None else args
        if op is _CHECKPOINT:   # a nested region: its own calls were counted as they ran
            return args
        k = self.k
        self.k += 1
        if k >= len(r.calls) or r.calls[k] != (op.name, _shapes(args)):
            then = r.calls[k] if k < len(r.calls) else "nothing (the region made fewer calls)"
            raise BackwardError(
                f"checkpoint: recomputing {_name(r.fn)} made a different call than the forward pass did "
                f"(call {k}: now '{op.name}' on {_shapes(args)}, before {then}); a checkpointed function "
                "must compute the same way every time it runs (no data-dependent Python branches on "
                "values that change between forward and backward)")
        if k in r.saved:
            out = r.saved[k]
            return Override(args, lambda xp, *a, **p: out)
        return tuple(new) if new is not None else None

    def after(self, op: Any, args: tuple, params: dict, result: Any) -> None:
        self.depth -= 1

    def draw(self, generator: Any) -> None:
        key = id(generator)
        if key in self.restore or key not in self.r.streams:
            return
        self.restore[key] = (generator, generator.get_state())
        generator.set_state(self.r.streams[key][1])

    def put_back(self) -> None:
        for g, st in self.restore.values():
            g.set_state(st)


def _shapes(args: tuple) -> tuple:
    return tuple(tuple(a.shape) if hasattr(a, "shape") else type(a).__name__ for a in args)


def _name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", None) or type(fn).__name__


def _recompute(region: _Region, stand: Sequence[Tensor]) -> Any:
    """Run the region again with stand-ins for its outside tensors; returns its result."""
    replay = _Replay(region, stand)
    now = observers()
    fronts = tuple(o for o in now if o.front)
    rest = tuple(o for o in now if not o.front and not o.steers)
    try:
        with replace_observers(fronts + (replay,) + region.steering + rest), watch_draws(replay.draw):
            return region.run()
    finally:
        replay.put_back()


# ---------------------------------------------------------------- the region's op

def _forward(xp: Any, *arrays: Any, _region: _Region, _kept: tuple = ()) -> Any:
    return _region.out   # computed in checkpoint(), as arrays


def _vjp(xp: Any, g: Any, out: Any, *arrays: Any, _region: _Region, _kept: tuple = ()) -> tuple:
    r = _region
    tensor_mode = xp is namespace()
    gs = g if r.n_out > 1 else (g,)
    with enable_grad():
        if tensor_mode:   # stand-ins recorded as the identity of the inputs: the result stays differentiable
            from .core.transforms import _input
            stand = [_input(a, "checkpoint input") for a in arrays]
        else:
            stand = []
            for e, a in zip(r.ext, arrays):
                t = Tensor._make(a, e._b)
                t._edge = (Leaf(t), 0)
                stand.append(t)
        res = _recompute(r, stand)
    outs = _tensor_outputs(r, res)
    roots, cts = [], []
    for o, c in zip(outs, gs):
        if c is not None and o._edge is not None:
            roots.append(o)
            cts.append(c if tensor_mode else Tensor._make(c, o._b))
    if not roots:
        return (None,) * len(arrays)
    grads = backward(roots, cts, inputs=stand, create_graph=tensor_mode, retain_graph=tensor_mode,
                     allow_unused=True)
    return tuple(None if gr is None else (gr if tensor_mode else gr.data) for gr in grads)


def _jvp(xp: Any, tangents: tuple, out: Any, *prims: Any, _region: _Region, _kept: tuple = ()) -> Any:
    r = _region
    level = new_level()   # a level of our own, above every level the primals carry
    try:
        duals = [p if t is None or t is ZERO else attach(p, level, t) for p, t in zip(prims, tangents)]
        res = _recompute(r, duals)
        tans = [tangent_of(o, level) for o in _tensor_outputs(r, res)]
    finally:
        release_level(level)
    return tuple(tans) if r.n_out > 1 else tans[0]


_CHECKPOINT = Op("checkpoint", _forward)
_CHECKPOINT.defvjp(_vjp)
_CHECKPOINT.defjvp(_jvp)
_CHECKPOINT._complete()


def _tensor_outputs(r: _Region, res: Any) -> list[Tensor]:
    leaves, td = flatten(res)
    if td != r.tdef:
        raise BackwardError(f"checkpoint: recomputing {_name(r.fn)} returned a different structure "
                            f"({td}) than the forward pass ({r.tdef})")
    return [leaves[i] for i in r.where]


# ---------------------------------------------------------------- checkpoint

def checkpoint(fn: Callable, *args: Any, policy: str | Callable | None = None,
               preserve_rng_state: bool = True, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, recomputed during backward instead of keeping its intermediate values.

    ``fn`` may close over parameters (a module's layers): they receive their
    gradients as usual. ``fn`` must compute the same way every time it runs;
    its random draws are replayed (dropout masks match). ``policy`` keeps some
    intermediate outputs after all: ``"compute"`` keeps those of compute-bound
    ops (:data:`COMPUTE_BOUND`), or pass ``policy(op, args, params) -> bool``.

    >>> import xpgrad as xg
    >>> w = xg.asarray([1.0, 2.0], requires_grad=True)
    >>> y = xg.checkpoint(lambda x: xg.sin(x * w), xg.asarray([0.5, 0.25]))
    >>> y.sum().backward()
    >>> [round(v, 6) for v in w.grad.tolist()]
    [0.438791, 0.219396]
    """
    pol = _policy(policy)
    region = _Region(fn, args, kwargs)
    cap = _Capture(region, pol)
    with no_grad(), observe(cap):
        if preserve_rng_state:
            with watch_draws(cap.draw):
                res = region.run()
        else:
            res = region.run()
    if not preserve_rng_state:
        region.streams = {}
    leaves, td = flatten(res)
    where = [i for i, v in enumerate(leaves) if isinstance(v, Tensor)]
    if not where:
        raise OpError(f"checkpoint: {_name(fn)} returned no tensor ({type(res).__name__}); "
                      "checkpoint a function that returns tensors")
    if not region.ext:   # nothing from outside carries a gradient or tangent: nothing to record
        return res
    region.tdef = td
    region.where = where
    region.n_out = len(where)
    outs = [leaves[i] for i in where]
    region.out = outs[0].data if len(outs) == 1 else tuple(o.data for o in outs)
    # _kept: the outputs the policy keeps, in the params where memory reports look for saved arrays
    kept = tuple(a for v in region.saved.values() for a in (v if type(v) is tuple else (v,)))
    made = apply(_CHECKPOINT, tuple(region.ext), {"_region": region, "_kept": kept})
    region.out = None   # the node holds the outputs; the region only handed them to the forward rule
    made = (made,) if type(made) is not tuple else made
    for i, t in zip(where, made):
        leaves[i] = t
    return unflatten(td, leaves)


def _policy(policy: str | Callable | None) -> Callable | None:
    if policy is None or callable(policy):
        return policy
    if policy == "compute":
        return selective()
    raise ValueError(f"checkpoint: policy must be None, 'compute' or a callable, got {policy!r}")


def selective(min_flops: float = 0.0, ops: frozenset | set = COMPUTE_BOUND) -> Callable:
    """A ``policy``: keep the outputs of ``ops`` calls costing at least ``min_flops``; recompute the rest.

    Costs: ``2·m·k·n`` per matrix product (batched), and for convolutions two
    FLOPs per weight element per output position, taking the output positions
    as the input's (a stride-1 estimate). Cheap elementwise ops are always recomputed.

    >>> keep = selective(min_flops=1e6)
    >>> import xpgrad as xg
    >>> keep(xg.get_op("matmul"), (xg.ones((64, 64)), xg.ones((64, 64))), {})   # 2·64³ ≈ 5e5 FLOPs
    False
    """
    ops = frozenset(ops)

    def policy(op: Any, args: tuple, params: dict) -> bool:
        return op.name in ops and _flops(op.name, args) >= min_flops
    return policy


def _flops(name: str, args: tuple) -> float:
    shapes = [tuple(a.shape) for a in args if hasattr(a, "shape")]
    if len(shapes) < 2:
        return float(max((math.prod(s) for s in shapes), default=0))
    a, b = shapes[0], shapes[1]
    if name.startswith("conv"):   # weight (Cout, Cin/groups, *kernel); positions ≈ the input's
        return 2.0 * math.prod(b) * math.prod(a[2:]) * (a[0] if a else 1)
    if name in ("linear", "affine"):   # x (..., k) · W (n, k)
        return 2.0 * math.prod(a) * b[0]
    if len(a) >= 2 and len(b) >= 2:   # (..., m, k) @ (..., k, n)
        return 2.0 * math.prod(a) * b[-1]
    return 2.0 * max(math.prod(a), math.prod(b))


# ---------------------------------------------------------------- checkpoint_sequential

@dataclass
class LayerCost:
    """What one layer costs when its forward is recorded: measured once per input signature."""

    saved: int      # bytes its recorded graph holds (activations, not parameters)
    output: int     # bytes of its output (what a checkpoint boundary keeps)
    seconds: float  # its forward time


@dataclass
class SegmentPlan:
    """How ``checkpoint_sequential`` splits the layers: ``segments[i] = (start, stop)``, with
    ``checkpointed[i]`` saying whether that segment is recomputed during backward."""

    segments: list[tuple[int, int]]
    checkpointed: list[bool]
    strategy: str
    costs: list[LayerCost] | None = None
    peak_bytes: int | None = None          # the model's peak of saved bytes with this plan
    baseline_peak_bytes: int | None = None  # ... and without checkpointing
    extra_seconds: float | None = None      # recomputation per backward
    forward_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        segs = " ".join(f"[{a}:{b}]{'ᶜ' if c else ''}" for (a, b), c in zip(self.segments, self.checkpointed))
        lines = [f"SegmentPlan ({self.strategy}): {segs}   (ᶜ = recomputed in backward)"]
        if self.peak_bytes is not None and self.baseline_peak_bytes:
            lines.append(f"  modelled peak of saved tensors {self.peak_bytes / 2**20:.1f} MiB vs "
                         f"{self.baseline_peak_bytes / 2**20:.1f} MiB without checkpointing "
                         f"({100 * (1 - self.peak_bytes / self.baseline_peak_bytes):.0f} % less)")
        if self.extra_seconds is not None and self.forward_seconds:
            lines.append(f"  recomputation {self.extra_seconds * 1e3:.1f} ms per backward "
                         f"({self.extra_seconds / self.forward_seconds:.2f} forward passes)")
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)


def _peak(costs: Sequence[LayerCost], segments: Sequence[tuple[int, int]], ckpt: Sequence[bool]) -> int:
    """The model's peak of saved bytes: everything kept after the forward pass, or, during backward,
    what the earlier segments keep plus the whole graph of the segment being differentiated."""
    kept = [sum(c.saved for c in costs[a:b]) if not k else costs[b - 1].output
            for (a, b), k in zip(segments, ckpt)]
    peak = sum(kept)
    before = 0
    for (a, b), keep in zip(segments, kept):
        peak = max(peak, before + sum(c.saved for c in costs[a:b]))
        before += keep
    return peak


def plan_segments(costs: Sequence[LayerCost], *, memory_budget_mb: float | None = None,
                  max_recompute: float = 1.0) -> SegmentPlan:
    """Choose segments from per-layer costs by dynamic programming over contiguous splits.

    With ``memory_budget_mb``: the least recomputation whose modelled peak fits the budget (if none
    fits, the smallest peak, with a note). Without: the smallest peak whose recomputation stays within
    ``max_recompute`` forward passes. Each prefix keeps its Pareto set of (bytes kept, peak so far,
    seconds recomputed).

    >>> c = [LayerCost(saved=100, output=60, seconds=1.0)] * 4
    >>> plan_segments(c).segments
    [(0, 2), (2, 3), (3, 4)]
    """
    n = len(costs)
    if n == 0:
        raise ValueError("plan_segments: no layers")
    total_t = sum(c.seconds for c in costs)
    pre_s = [0]
    pre_t = [0.0]
    for c in costs:
        pre_s.append(pre_s[-1] + c.saved)
        pre_t.append(pre_t[-1] + c.seconds)
    # front[i]: non-dominated (kept, peak, recomputed, back-pointer) for layers [0, i)
    front: list[list[tuple]] = [[(0, 0, 0.0, None)]] + [[] for _ in range(n)]
    for i in range(n):
        for state in front[i]:
            kept, peak, rec, _ = state
            for j in range(i + 1, n + 1):
                work = pre_s[j] - pre_s[i]
                for k in (False, True):
                    keep = costs[j - 1].output if k else work
                    cand = (kept + keep, max(peak, kept + work), rec + (pre_t[j] - pre_t[i] if k else 0.0),
                            (state, i, j, k))
                    front[j].append(cand)
        if i + 1 <= n:
            front[i + 1] = _pareto(front[i + 1])
    finals = [(max(st[0], st[1]), st[2], st) for st in front[n]]   # (peak, recomputed, state)
    budget = None if memory_budget_mb is None else memory_budget_mb * 2**20
    notes = []
    if budget is not None:
        fit = [f for f in finals if f[0] <= budget]
        if fit:
            best = min(fit, key=lambda f: (f[1], f[0]))
            strategy = f"memory_budget_mb={memory_budget_mb:g}"
        else:
            best = min(finals, key=lambda f: (f[0], f[1]))
            strategy = f"memory_budget_mb={memory_budget_mb:g} (not met)"
            notes.append(f"no split fits {memory_budget_mb:g} MiB: the smallest modelled peak is "
                         f"{best[0] / 2**20:.1f} MiB")
    else:
        ok = [f for f in finals if f[1] <= max_recompute * total_t * (1 + 1e-9)]
        best = min(ok or finals, key=lambda f: (f[0], f[1]))
        strategy = "auto"
    segs, ck = _unwind(best[2])
    return _finish(SegmentPlan(segs, ck, strategy, notes=notes), costs)


def _pareto(items: list[tuple]) -> list[tuple]:
    """The entries no other entry beats in all of (kept, peak, recomputed); at most 256, spread by time."""
    items.sort(key=lambda s: (s[2], s[1], s[0]))
    out: list[tuple] = []
    for s in items:
        if not any(o[0] <= s[0] and o[1] <= s[1] and o[2] <= s[2] for o in out):
            out.append(s)
    if len(out) > 256:
        step = len(out) / 256
        out = [out[int(i * step)] for i in range(256)]
    return out


def _unwind(state: tuple) -> tuple[list[tuple[int, int]], list[bool]]:
    segs, ck = [], []
    back = state[3]
    while back is not None:
        prev, i, j, k = back
        segs.append((i, j))
        ck.append(k)
        back = prev[3]
    return segs[::-1], ck[::-1]


def _finish(plan: SegmentPlan, costs: Sequence[LayerCost] | None) -> SegmentPlan:
    if costs is not None:
        plan.costs = list(costs)
        plan.peak_bytes = _peak(costs, plan.segments, plan.checkpointed)
        plan.baseline_peak_bytes = sum(c.saved for c in costs)
        plan.forward_seconds = sum(c.seconds for c in costs)
        plan.extra_seconds = sum(c.seconds for (a, b), k in zip(plan.segments, plan.checkpointed)
                                 for c in costs[a:b] if k)
    return plan


def _uniform(n: int, size: int, strategy: str) -> SegmentPlan:
    segs = [(a, min(a + size, n)) for a in range(0, n, size)]
    # The last segment is not checkpointed: backward starts there, so recomputing it saves nothing.
    return SegmentPlan(segs, [True] * (len(segs) - 1) + [False], strategy)


_PLANS: dict[tuple, SegmentPlan] = {}


def checkpoint_sequential(functions: Any, segments: int | str | SegmentPlan | None = None, input: Any = None,
                          *, every: int | None = None, memory_budget_mb: float | None = None,
                          max_recompute: float = 1.0, policy: str | Callable | None = None,
                          preserve_rng_state: bool = True) -> Any:
    """Run ``functions`` (an ``nn.Sequential`` or a list of callables) in order on ``input``, checkpointed.

    Say how to split with one of: ``segments=k`` (k equal segments), ``every=N``
    (a segment every N layers), ``segments="auto"`` (the smallest modelled peak
    of saved bytes for at most ``max_recompute`` extra forward passes),
    ``memory_budget_mb=B`` (the least recomputation that fits B MiB), or a
    :class:`SegmentPlan`. The cost-model strategies measure each layer once per
    input signature (one extra forward pass, one layer's graph alive at a time)
    and cache the plan; ``xpgrad.checkpointing.last_plan()`` shows it. Every
    segment but the last is checkpointed. ``policy`` is passed to
    :func:`checkpoint` (``"compute"``: selective checkpointing).

    >>> import xpgrad as xg
    >>> from xpgrad import nn
    >>> net = nn.Sequential(*[nn.Linear(4, 4) for _ in range(6)])
    >>> y = checkpoint_sequential(net, 3, xg.ones((2, 4), dtype=xg.float32))
    >>> y.shape
    (2, 4)
    """
    layers = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if input is None:
        raise TypeError("checkpoint_sequential() needs the input: checkpoint_sequential(layers, segments, x)")
    n = len(layers)
    if n == 0:
        return input
    given = [v is not None for v in (segments, every, memory_budget_mb)]
    if sum(given) != 1:
        raise ValueError("checkpoint_sequential: give exactly one of segments=, every= or memory_budget_mb= "
                         f"(got segments={segments!r}, every={every!r}, "
                         f"memory_budget_mb={memory_budget_mb!r})")
    if isinstance(segments, SegmentPlan):
        plan = segments
    elif every is not None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"checkpoint_sequential: every must be a positive int, got {every!r}")
        plan = _uniform(n, every, f"every={every}")
    elif isinstance(segments, int) and not isinstance(segments, bool):
        if not 1 <= segments <= n:
            raise ValueError(f"checkpoint_sequential: segments must be in 1..{n} (the number of layers), "
                             f"got {segments}")
        plan = _uniform(n, -(-n // segments), f"segments={segments}")
    elif segments == "auto" or memory_budget_mb is not None:
        key = (tuple(id(f) for f in layers), _signature(input), memory_budget_mb, max_recompute)
        plan = _PLANS.get(key)
        if plan is None:
            costs = measure_layers(layers, input)
            plan = plan_segments(costs, memory_budget_mb=memory_budget_mb, max_recompute=max_recompute)
            if len(_PLANS) > 64:
                _PLANS.clear()
            _PLANS[key] = plan
    else:
        raise ValueError(f"checkpoint_sequential: segments must be an int, 'auto' or a SegmentPlan, "
                         f"got {segments!r}")
    if plan.segments[-1][1] != n or plan.segments[0][0] != 0:
        raise ValueError(f"checkpoint_sequential: the plan covers layers {plan.segments[0][0]}.."
                         f"{plan.segments[-1][1]} but there are {n}")
    _LAST[0] = plan
    x = input
    for (a, b), ck in zip(plan.segments, plan.checkpointed):
        run = functools.partial(_run_layers, layers[a:b])
        x = checkpoint(run, x, policy=policy, preserve_rng_state=preserve_rng_state) if ck else run(x)
    return x


_LAST: list[SegmentPlan | None] = [None]


def last_plan() -> SegmentPlan | None:
    """The plan the latest ``checkpoint_sequential`` call on this process used."""
    return _LAST[0]


def _run_layers(layers: Sequence[Callable], x: Any) -> Any:
    for f in layers:
        x = f(x)
    return x


def _signature(x: Any) -> tuple:
    if not hasattr(x, "shape"):
        return (type(x),)
    return (tuple(x.shape), str(x.dtype), str(getattr(x, "device", "")))


def measure_layers(layers: Sequence[Callable], x: Any) -> list[LayerCost]:
    """Each layer's :class:`LayerCost` on input ``x``: one recorded forward pass, one layer at a time.

    The random streams the layers draw from are put back afterwards, so measuring changes no result.
    """
    from .profiler import memory_block, track_memory

    streams: dict[int, tuple] = {}

    def note(g: Any) -> None:
        if id(g) not in streams:
            streams[id(g)] = (g, g.get_state())
    costs = []
    h = x
    try:
        with watch_draws(note), enable_grad():
            for f in layers:
                # Detached, the layer's input counts as a leaf: it is the previous layer's output (or
                # the model's input), not the layer's own; parameters are leaves too.
                inp = h.detach() if isinstance(h, Tensor) else h
                sync = getattr(getattr(inp, "_b", None), "synchronize", None)
                t0 = time.perf_counter()
                with track_memory() as mem:
                    out = f(inp)
                if sync is not None:
                    sync()
                dt = time.perf_counter() - t0
                size = memory_block(out.data)[1] if isinstance(out, Tensor) else 0
                costs.append(LayerCost(mem.current, size, dt))
                h = out.detach() if isinstance(out, Tensor) else out
                del out
    finally:
        for g, st in streams.values():
            g.set_state(st)
    return costs
