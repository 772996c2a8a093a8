"""The profiler: where a training step spends its time, and what the graph keeps in memory.

``with xpgrad.profiler.profile() as prof:`` installs an observer (:class:`~xpgrad.core.tape.Observer`)
for the block. It times every op call from just before its kernel runs to just after
(phase ``forward``), and every node's VJP while backward walks the graph (phase
``backward``, attributed to the node's op). Each :class:`Event` keeps the op, phase,
device, the kernel the dispatcher chose, the bytes its outputs allocated, and on request
the input shapes and the user's line of code. ``prof.table()`` adds the events up per
op (:meth:`profile.key_averages`), sorted by total time; ``prof.export_chrome_trace(path)``
writes them in the Trace Event Format that ``chrome://tracing`` and ui.perfetto.dev open.

Times. With ``sync=True`` (the default) the profiler waits for an asynchronous device's
queue (OpenCL, CUDA: ``Backend.synchronize``) before reading the clock on each side of a
call, so an op's time is what its device took rather than the time to enqueue it; the CPU
has nothing to wait for. Ops that run inside another observed call (the JVP rules of
forward mode, VJP rules under ``create_graph``, a checkpoint's recomputation, a custom
VJP's backward) are events of their own, nested in their caller: an event's *total* time
includes the events nested in it, its *self* time excludes them (with the profiler's own
bookkeeping for them), as PyTorch's "CPU total" and "Self CPU".

Memory. :func:`track_memory` (or ``profile(memory=True)``, as ``prof.memory``) counts the
bytes of the arrays that graph nodes recorded inside the block keep for backward: each
node's input arrays, its outputs, and arrays among its parameters (a custom VJP's
residuals). A memory block counts once however many nodes or views hold it (NumPy views
lead to the array owning the memory; OpenCL views share one device buffer). The count is
split into *leaves* (blocks of leaf tensors' arrays: parameters, inputs, and results
computed without recording) and *activations* (everything else, residuals included). It
drops when backward releases a node, or when a graph no backward ran on is
garbage-collected. Nodes recorded before the block started are not counted (the arrays
they hold are, once a node recorded inside holds them too); the figures stop changing
when the block ends.
"""

from __future__ import annotations

import collections
import json
import os
import sys
import threading
import math
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from ._atomic import atomic_write
from .core.device import backend_of, default_backend, is_array
from .core.dispatch import Dispatcher, candidates, itemsize
from .core.errors import XpgradError
from .core.tape import Node, Observer, _walk_plain, backward, observe
from .core.tensor import Tensor

__all__ = ["profile", "Event", "Row", "track_memory", "MemoryTracker", "MemorySnapshot", "MemoryDiff",
           "memory_diff", "memory_block", "ProfilerError"]

_clock = time.perf_counter_ns
_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep
_SCALARS = (bool, int, float, complex, str, type(None))
_BACKWARD_CODE = (backward.__code__, _walk_plain.__code__)
SORT_KEYS = ("total", "self", "calls", "mean", "bytes", "name")
GROUPS = ("op", "op+kernel", "op+shape")


class ProfilerError(XpgradError, ValueError):
    """The profiler was used in a way it cannot honour (a bad ``sort_by``, a block entered twice).

    >>> isinstance(ProfilerError("x"), ValueError)
    True
    """


# ---------------------------------------------------------------------------
# small helpers: arrays, buffers, kernels, frames
# ---------------------------------------------------------------------------

def _is_arr(x: Any) -> bool:
    return type(x) not in _SCALARS and hasattr(x, "shape") and hasattr(x, "dtype")


def _nbytes(a: Any) -> int:
    n = getattr(a, "nbytes", None)
    if isinstance(n, int):
        return n
    return math.prod(int(s) for s in a.shape) * itemsize(a.dtype)


def memory_block(a: Any) -> tuple[int, int]:
    """``(identity, bytes)`` of the memory block array ``a`` keeps alive; views share their owner's.

    NumPy and CuPy: a view's ``.base`` leads to the array that owns the memory.
    OpenCL: every view of a device buffer holds the same pooled ``cl.Buffer``.
    The FPGA stub: a device array wraps a host NumPy array. Anything else: the array itself.
    """
    how = _HOW.get(type(a))
    if how is None:
        how = _HOW[type(a)] = _how(type(a))
    return how(a)


def _how(t: type) -> Callable[[Any], tuple[int, int]]:
    """How to find the memory block of arrays of type ``t`` (decided once per type)."""
    if hasattr(t, "_buf") and hasattr(t, "_bufn"):    # OpenCLArray: views share one pooled buffer
        return lambda a: (id(a._buf), int(a._bufn) * itemsize(a.dtype))
    if hasattr(t, "_a"):                               # FPGAArray: a host NumPy array inside
        return lambda a: memory_block(a._a)
    if hasattr(t, "base"):
        return _via_base
    return lambda a: (id(a), _nbytes(a))


def _via_base(a: Any) -> tuple[int, int]:
    base = a.base
    if base is None:
        return id(a), _nbytes(a)
    o = a
    while base is not None and hasattr(base, "base") and hasattr(base, "nbytes"):
        o = base
        base = o.base
    if base is not None:   # memory owned by a non-array object (bytes, mmap): that object is the block
        return id(base), _nbytes(o)
    return id(o), _nbytes(o)


_HOW: dict[type, Callable[[Any], tuple[int, int]]] = {}


def _call_backend(args: tuple) -> Any:
    """The backend an op call runs on, found as ``apply`` finds it."""
    for a in args:
        if isinstance(a, Tensor):
            return a._b
    for a in args:
        if _is_arr(a) and is_array(a):
            return backend_of(a)
    return default_backend()


def _raw(args: tuple) -> tuple:
    return tuple(a.data if isinstance(a, Tensor) else a for a in args)


def _shapes(arrays: Any) -> tuple:
    return tuple(tuple(int(s) for s in a.shape) if _is_arr(a) else None for a in arrays)


def _dtypes(arrays: Any) -> tuple:
    return tuple(_dtype_name(a.dtype) if _is_arr(a) else type(a).__name__ for a in arrays)


def _dtype_name(d: Any) -> str:
    name = getattr(d, "name", None)
    return name if isinstance(name, str) else str(d).rsplit(".", 1)[-1]


def _node_of(result: Any) -> Node | None:
    """The graph node an op call recorded, if it recorded one."""
    for t in (result if type(result) is tuple else (result,)):
        e = getattr(t, "_edge", None) if isinstance(t, Tensor) else None
        if e is not None and type(e[0]) is Node:
            return e[0]
    return None


def _encloses(outer: Any, frame: Any) -> bool:
    """Whether ``outer`` is a frame still running below ``frame`` on this thread's stack."""
    f = frame.f_back
    while f is not None:
        if f is outer:
            return True
        f = f.f_back
    return False


def _inside_backward(frame: Any) -> bool:
    f = frame
    while f is not None:
        if f.f_code in _BACKWARD_CODE:
            return True
        f = f.f_back
    return False


def _user_frame(frame: Any) -> str:
    """``file:line in function`` of the first caller outside the xpgrad package."""
    f = frame
    while f is not None and f.f_code.co_filename.startswith(_PKG):
        f = f.f_back
    if f is None:
        return ""
    return f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"


class _Kernels:
    """Names the kernel a call ran: the dispatcher's pick, an op's only kernel, or ``generic``."""

    def __init__(self) -> None:
        self.names: dict[tuple[int, int], tuple[Any, Any]] = {}

    def name(self, op: Any, b: Any, args: tuple, params: dict) -> str:
        k = op.kernels.get(b) if op.kernels else None
        if k is None:
            return "generic"
        key = (id(op), id(b))
        hit = self.names.get(key)
        if hit is None or hit[0] is not k:   # first sight, or kernels re-attached since (a new plugin)
            if type(k) is Dispatcher:
                table = {kern.forward: kern.name for kern in k.kernels + [k.generic]}
            else:
                kern = next((c for c in candidates(op, b.family) if c.forward is k), None)
                table = kern.name if kern is not None else getattr(k, "__name__", "kernel")
            hit = self.names[key] = (k, table)
        table = hit[1]
        if isinstance(table, str):
            return table
        # The decision apply just used, read from the dispatcher's cache: never plan here (under
        # ``measure`` planning times kernels, which is not the profiler's business).
        try:
            fwd = k.cache.get(Dispatcher._key(_raw(args), params))
        except Exception:  # noqa: BLE001 - a failing lookup must not break the profiled program
            fwd = None
        if fwd is None:   # no decision for this signature: the kernel was replaced (a checkpoint replay)
            return "unplanned"
        return table.get(fwd) or getattr(fwd, "__name__", "kernel")


# ---------------------------------------------------------------------------
# events and rows
# ---------------------------------------------------------------------------

class Event:
    """One timed call: an op's forward, or a node's VJP in backward.

    Times are integer nanoseconds from the start of the profiled block;
    ``self_ns`` leaves out the events nested in this one (``parent`` is the ``id``
    of the event this one ran inside, ``None`` at top level). ``bytes`` counts
    the memory the outputs (cotangents, in backward) took that no input
    already held: a view allocates nothing.

    >>> import xpgrad as xg
    >>> with xg.profiler.profile() as prof:
    ...     y = xg.ones(4) * 2.0
    >>> e = prof.events[-1]
    >>> (e.name, e.phase, e.device, e.bytes, e.self_ns <= e.total_ns)
    ('multiply', 'forward', 'cpu', 32, True)
    """

    __slots__ = ("id", "parent", "depth", "name", "phase", "device", "kernel", "start_ns", "end_ns",
                 "self_ns", "bytes", "shapes", "dtypes", "stack", "thread")

    def __init__(self, id: int, parent: int | None, depth: int, name: str, phase: str, device: str,
                 kernel: str, start_ns: int, end_ns: int, self_ns: int, bytes: int, shapes: Any = None,
                 dtypes: Any = None, stack: str | None = None, thread: int = 0) -> None:
        self.id, self.parent, self.depth = id, parent, depth
        self.name, self.phase, self.device, self.kernel = name, phase, device, kernel
        self.start_ns, self.end_ns, self.self_ns, self.bytes = start_ns, end_ns, self_ns, bytes
        self.shapes, self.dtypes, self.stack, self.thread = shapes, dtypes, stack, thread

    @property
    def total_ns(self) -> int:
        """Nanoseconds from start to end, nested events included."""
        return self.end_ns - self.start_ns

    def __repr__(self) -> str:
        return (f"<Event {self.name} {self.phase} on {self.device} [{self.kernel}] "
                f"{self.total_ns / 1e3:.1f} µs, {self.bytes} B>")

    def to_dict(self) -> dict:
        """The event as plain JSON-ready values (times in microseconds)."""
        return {"id": self.id, "parent": self.parent, "depth": self.depth, "name": self.name,
                "phase": self.phase, "device": self.device, "kernel": self.kernel,
                "start_us": self.start_ns / 1e3, "total_us": self.total_ns / 1e3,
                "self_us": self.self_ns / 1e3, "bytes": self.bytes,
                "shapes": None if self.shapes is None else [list(s) if s is not None else None
                                                            for s in self.shapes],
                "dtypes": None if self.dtypes is None else list(self.dtypes),
                "stack": self.stack, "thread": self.thread}


class Row:
    """The events of one op (and phase and device, and kernel or shapes when grouped so), added up.

    ``total_ns`` and ``self_ns`` are sums over the calls; ``share`` is the row's
    part of the sum of all self times (so the rows add up to 1).

    >>> import xpgrad as xg
    >>> with xg.profiler.profile() as prof:
    ...     y = xg.ones(4) + xg.ones(4) + 1.0
    >>> [(r.name, r.calls, r.bytes) for r in prof.key_averages() if r.name == "add"]
    [('add', 2, 64)]
    """

    __slots__ = ("name", "phase", "device", "kernel", "shapes", "calls", "total_ns", "self_ns", "bytes",
                 "share")

    def __init__(self, name: str, phase: str, device: str, kernel: str, shapes: Any = None) -> None:
        self.name, self.phase, self.device, self.kernel, self.shapes = name, phase, device, kernel, shapes
        self.calls = self.total_ns = self.self_ns = self.bytes = 0
        self.share = 0.0

    @property
    def total_ms(self) -> float:
        return self.total_ns / 1e6

    @property
    def self_ms(self) -> float:
        return self.self_ns / 1e6

    @property
    def mean_us(self) -> float:
        """Mean total time per call, in microseconds."""
        return self.total_ns / self.calls / 1e3 if self.calls else 0.0

    def __repr__(self) -> str:
        return (f"<Row {self.name} {self.phase} {self.device} [{self.kernel}] ×{self.calls} "
                f"{self.total_ms:.3f} ms>")

    def to_dict(self) -> dict:
        """The row as plain JSON-ready values."""
        return {"name": self.name, "phase": self.phase, "device": self.device, "kernel": self.kernel,
                "shapes": self.shapes, "calls": self.calls, "total_ms": self.total_ms,
                "self_ms": self.self_ms, "mean_us": self.mean_us, "share": self.share, "bytes": self.bytes}


def _fmt_bytes(n: float) -> str:
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{sign}{n / scale:.1f} {unit}"
    return f"{sign}{int(n)} B"


def _grid(head: list[str], body: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return [line(head).rstrip(), "  ".join("-" * w for w in widths)] + [line(r).rstrip() for r in body]


# ---------------------------------------------------------------------------
# the observer
# ---------------------------------------------------------------------------

class _Open:
    """A call that has started and not yet ended."""

    __slots__ = ("op", "b", "phase", "frame", "t_enter", "t0", "child", "vjp", "id")


class _Recorder(Observer):
    """What ``profile`` and ``track_memory`` install: times calls (``prof``), counts saved bytes (``mem``)."""

    def __init__(self, prof: "profile | None", mem: "MemoryTracker | None") -> None:
        self.prof = prof
        self.mem = mem
        self.timing = prof is not None
        self.sync = bool(prof and prof.sync)
        self.shapes = bool(prof and prof.record_shapes)
        self.stack_frames = bool(prof and prof.with_stack)
        self.stack: list[_Open] = []   # calls in progress, outermost first
        self.vjp_depth = 0              # VJPs in progress
        self.bw_open = False            # a backward walk has begun and no forward op has run since
        self.next_id = 0
        self.kernels = _Kernels()
        self.syncs: dict[int, Any] = {}
        self.origin = 0
        self.thread = 0

    # -- bookkeeping -------------------------------------------------------
    def _sync(self, b: Any) -> None:
        s = self.syncs.get(id(b), 0)
        if s == 0:
            s = self.syncs[id(b)] = getattr(b, "synchronize", None)
        if s is not None:
            s()

    def _prune(self, frame: Any) -> None:
        """Drop calls that ended by an exception (their frames no longer run below ``frame``)."""
        stack = self.stack
        while stack and not _encloses(stack[-1].frame, frame):
            if stack.pop().vjp:
                self.vjp_depth -= 1

    def _pop(self, frame: Any) -> _Open | None:
        """The open call running in ``frame``, removed with any calls above it that raised."""
        stack = self.stack
        for i in range(len(stack) - 1, -1, -1):
            if stack[i].frame is frame:
                e = stack[i]
                for dead in stack[i:]:
                    if dead.vjp:
                        self.vjp_depth -= 1
                del stack[i:]
                return e
        return None   # began before the block did

    def _phase(self, frame: Any) -> str:
        if self.vjp_depth:
            return "backward"
        if self.bw_open:
            if _inside_backward(frame):   # a gradient hook's ops, between two VJPs
                return "backward"
            self.bw_open = False
        return "forward"

    def _open(self, op: Any, b: Any, phase: str, frame: Any, vjp: bool, t_enter: int) -> _Open:
        e = _Open()
        e.op, e.b, e.phase, e.frame, e.vjp, e.t_enter = op, b, phase, frame, vjp, t_enter
        e.child = 0
        e.id = self.next_id
        self.next_id += 1
        self.stack.append(e)
        return e

    def _close(self, e: _Open, t1: int, kernel: str, nbytes: int, shapes: Any, dtypes: Any,
               frame: Any) -> None:
        stack = self.stack
        parent = stack[-1] if stack else None
        self.prof.events.append(Event(
            e.id, parent.id if parent is not None else None, len(stack), e.op.name, e.phase, e.b.device,
            kernel, e.t0 - self.origin, t1 - self.origin, t1 - e.t0 - e.child, nbytes, shapes, dtypes,
            _user_frame(frame) if self.stack_frames else None, self.thread))

    def _end(self, e: _Open) -> None:
        # The caller's self time leaves out this call and the bookkeeping around it.
        if self.stack:
            self.stack[-1].child += _clock() - e.t_enter

    # -- forward -----------------------------------------------------------
    def before(self, op: Any, args: tuple, params: dict) -> None:
        if not self.timing:
            return None
        t_enter = _clock()
        frame = sys._getframe(1)
        if self.stack and not _encloses(self.stack[-1].frame, frame):
            self._prune(frame)
        b = _call_backend(args)
        e = self._open(op, b, self._phase(frame), frame, False, t_enter)
        if self.sync:
            self._sync(b)   # what earlier calls queued is theirs, not this op's
        e.t0 = _clock()
        return None

    def after(self, op: Any, args: tuple, params: dict, result: Any) -> None:
        frame = sys._getframe(1)
        if not self.timing:   # memory only: note the node, in the phase it was recorded in
            node = _node_of(result)
            if node is not None:
                if self.stack and not _encloses(self.stack[-1].frame, frame):
                    self._prune(frame)
                self.mem._add(node, self._phase(frame))
            return
        stack = self.stack
        e = stack[-1] if stack and stack[-1].frame is frame else None
        if e is None:
            e = self._pop(frame)
            if e is None:
                return
            stack.append(e)
        if self.sync:
            self._sync(e.b)
        t1 = _clock()
        stack.pop()
        self._close(e, t1, self.kernels.name(op, e.b, args, params), _fresh_bytes(result, args),
                    _shapes(_raw(args)) if self.shapes else None,
                    _dtypes(_raw(args)) if self.shapes else None, frame)
        if self.mem is not None:
            node = _node_of(result)
            if node is not None:
                self.mem._add(node, e.phase)
        self._end(e)

    # -- backward ----------------------------------------------------------
    def before_vjp(self, node: Node, g: Any) -> None:
        t_enter = _clock()
        frame = sys._getframe(1)
        if self.stack and not _encloses(self.stack[-1].frame, frame):
            self._prune(frame)
        if not self.vjp_depth:
            self.bw_open = True
            if self.mem is not None:
                self.mem._backward_begins()
        self.vjp_depth += 1
        e = self._open(node.op, node.b, "backward", frame, True, t_enter)
        if self.timing and self.sync:
            self._sync(node.b)
        e.t0 = _clock()

    def after_vjp(self, node: Node, g: Any, cotangents: list) -> None:
        frame = sys._getframe(1)
        e = self._pop(frame)   # (counts the VJP as ended)
        if e is None:
            return
        if not self.timing:
            return
        if self.sync:
            self._sync(e.b)
        t1 = _clock()
        raw = node.raw if node.raw is not None else ()
        self._close(e, t1, "vjp", _fresh_bytes(cotangents, (g,)),
                    _shapes(raw) if self.shapes else None, _dtypes(raw) if self.shapes else None, frame)
        self._end(e)

    def freed(self, node: Node) -> None:
        if self.mem is not None:
            self.mem._release_node(node)


def _fresh_bytes(outputs: Any, inputs: Any) -> int:
    """Bytes of the memory blocks ``outputs`` hold that none of ``inputs`` holds (views are free)."""
    outs = outputs if type(outputs) in (tuple, list) else (outputs,)
    ins = inputs if type(inputs) in (tuple, list) else (inputs,)
    seen: set[int] = set()
    for a in ins:
        if isinstance(a, Tensor):
            a = a.data
        elif type(a) in (tuple, list):   # a multi-output node's cotangents
            for x in a:
                x = x.data if isinstance(x, Tensor) else x
                if _is_arr(x):
                    seen.add(memory_block(x)[0])
            continue
        if _is_arr(a):
            seen.add(memory_block(a)[0])
    total = 0
    for o in outs:
        if isinstance(o, Tensor):
            o = o.data
        if not _is_arr(o):
            continue
        key, nb = memory_block(o)
        if key not in seen:
            seen.add(key)
            total += nb
    return total


# ---------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------

class _NodeRef(weakref.ref):
    __slots__ = ("token",)


class MemorySnapshot:
    """Bytes of saved tensors at one moment, in total and per op holding them.

    ``by_op`` maps an op name to the activation bytes its nodes hold (a block held
    by several nodes goes to the first that held it), ``leaves_by_op`` the same
    for leaf arrays. ``later - earlier`` (or :func:`memory_diff`) compares two.

    >>> import xpgrad as xg
    >>> x = xg.asarray([1.0, 2.0], requires_grad=True)
    >>> with xg.profiler.track_memory() as mem:
    ...     y = xg.exp(x)
    ...     snap = mem.snapshot("after exp")
    >>> snap.by_op, snap.activations, snap.leaves
    ({'exp': 16}, 16, 16)
    """

    def __init__(self, label: str, activations: int, leaves: int, by_op: dict[str, int],
                 leaves_by_op: dict[str, int], nodes: int) -> None:
        self.label = label
        self.activations = activations
        self.leaves = leaves
        self.by_op = by_op
        self.leaves_by_op = leaves_by_op
        self.nodes = nodes

    @property
    def total(self) -> int:
        """Activations plus leaves."""
        return self.activations + self.leaves

    def __sub__(self, earlier: "MemorySnapshot") -> "MemoryDiff":
        if not isinstance(earlier, MemorySnapshot):
            return NotImplemented
        return MemoryDiff(earlier, self)

    def to_dict(self) -> dict:
        return {"label": self.label, "activations": self.activations, "leaves": self.leaves,
                "by_op": dict(self.by_op), "leaves_by_op": dict(self.leaves_by_op), "nodes": self.nodes}

    def __str__(self) -> str:
        body = [[op, _fmt_bytes(n)] for op, n in sorted(self.by_op.items(), key=lambda kv: -kv[1])]
        lines = [f"saved tensors at {self.label!r}: activations {_fmt_bytes(self.activations)}, "
                 f"leaves {_fmt_bytes(self.leaves)}, {self.nodes} nodes"]
        if body:
            lines += _grid(["op", "activations"], body, {1})
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<MemorySnapshot {self.label!r}: activations {self.activations} B, leaves {self.leaves} B>"


class MemoryDiff:
    """What changed between two :class:`MemorySnapshot` s: per op, bytes then, now, and the change.

    ``rows`` lists ``(op, then, now, change)`` for every op with activation bytes in
    either snapshot, largest change first; ``str()`` prints them as a table with
    the totals.

    >>> import xpgrad as xg
    >>> x = xg.asarray([1.0, 2.0], requires_grad=True)
    >>> with xg.profiler.track_memory() as mem:
    ...     a = mem.snapshot("start")
    ...     y = xg.exp(xg.exp(x))
    ...     b = mem.snapshot("two exps")
    >>> (b - a).rows
    [('exp', 0, 32, 32)]
    """

    def __init__(self, before: MemorySnapshot, after: MemorySnapshot) -> None:
        self.before = before
        self.after = after
        ops = list(dict.fromkeys([*before.by_op, *after.by_op]))
        rows = [(op, before.by_op.get(op, 0), after.by_op.get(op, 0)) for op in ops]
        self.rows = sorted(((op, a, b, b - a) for op, a, b in rows), key=lambda r: (-abs(r[3]), r[0]))

    @property
    def activations(self) -> int:
        """The change in activation bytes."""
        return self.after.activations - self.before.activations

    @property
    def leaves(self) -> int:
        """The change in leaf bytes."""
        return self.after.leaves - self.before.leaves

    def to_dict(self) -> dict:
        return {"before": self.before.label, "after": self.after.label,
                "rows": [{"op": op, "then": a, "now": b, "change": c} for op, a, b, c in self.rows],
                "activations": self.activations, "leaves": self.leaves}

    def __str__(self) -> str:
        def signed(n: int) -> str:
            return ("+" if n > 0 else "") + _fmt_bytes(n)
        body = [[op, _fmt_bytes(a), _fmt_bytes(b), signed(c)] for op, a, b, c in self.rows]
        body.append(["activations", _fmt_bytes(self.before.activations), _fmt_bytes(self.after.activations),
                     signed(self.activations)])
        body.append(["leaves", _fmt_bytes(self.before.leaves), _fmt_bytes(self.after.leaves),
                     signed(self.leaves)])
        head = ["op", "then", "now", "change"]
        return "\n".join([f"saved tensors: {self.before.label!r} -> {self.after.label!r}"]
                         + _grid(head, body, {1, 2, 3}))

    def __repr__(self) -> str:
        return (f"<MemoryDiff {self.before.label!r} -> {self.after.label!r}: "
                f"{self.activations:+d} B activations>")


def memory_diff(before: MemorySnapshot, after: MemorySnapshot) -> MemoryDiff:
    """The change from snapshot ``before`` to snapshot ``after`` (the same as ``after - before``).

    >>> import xpgrad as xg
    >>> x = xg.asarray([1.0, 2.0], requires_grad=True)
    >>> with xg.profiler.track_memory() as mem:
    ...     y = xg.exp(x)
    ...     a = mem.snapshot("forward")
    ...     y.sum().backward()
    ...     b = mem.snapshot("backward")
    >>> memory_diff(a, b).activations
    -16
    """
    if not isinstance(before, MemorySnapshot) or not isinstance(after, MemorySnapshot):
        raise ProfilerError("memory_diff compares two MemorySnapshot objects (from tracker.snapshot(label)); "
                            f"got {type(before).__name__} and {type(after).__name__}")
    return MemoryDiff(before, after)


class MemoryTracker:
    """Bytes of the arrays recorded graph nodes keep for backward: now, at the peak, per phase.

    ``current`` / ``peak`` count activations; ``leaves`` / ``current_total`` /
    ``peak_total`` add the leaf arrays (parameters, inputs); ``peak_forward`` and
    ``peak_backward`` are the activation peaks outside and inside backward walks.
    Get one from :func:`track_memory` (alone) or ``profile(memory=True).memory``.

    >>> import numpy as np, xpgrad as xg
    >>> x = xg.asarray(np.ones(1000), requires_grad=True)         # float64: 8000 bytes
    >>> with xg.profiler.track_memory() as mem:
    ...     y = xg.exp(xg.exp(x))        # two nodes: x, e1 = exp(x); e1, y
    ...     y.backward(xg.ones_like(y))
    >>> mem.peak, mem.peak_total, mem.current
    (16000, 24000, 0)
    """

    def __init__(self) -> None:
        self._bufs: dict[int, list] = {}        # block -> [bytes, leaf holders, other holders, {token: op}]
        self._nodes: dict[int, tuple] = {}      # token -> (weak ref, id(node), {block: (bytes, leaf?)})
        self._ids: dict[int, int] = {}          # id(node) -> token, for nodes alive and not released
        self._pending: collections.deque = collections.deque()   # tokens of nodes the GC took
        self._next = 0
        self._act = 0
        self._leaf = 0
        self._phase = "forward"
        self.peak = 0
        self.peak_total = 0
        self.peak_forward = 0
        self.peak_backward = 0
        self._timeline: list | None = None      # (ns, activations, leaves) at each change, for traces
        self._state = "new"
        self._watch: Any = None

    # -- public ---------------------------------------------------------------
    @property
    def current(self) -> int:
        """Activation bytes held now."""
        self._drain()
        return self._act

    @property
    def leaves(self) -> int:
        """Leaf bytes held now (parameters, inputs, results computed without recording)."""
        self._drain()
        return self._leaf

    @property
    def current_total(self) -> int:
        """Activations plus leaves, now."""
        self._drain()
        return self._act + self._leaf

    def reset_peak(self) -> None:
        """Start the peaks again from what is held now (the other phase's peak from 0).

        >>> MemoryTracker().reset_peak()
        """
        self._drain()
        self.peak = self._act
        self.peak_total = self._act + self._leaf
        self.peak_forward = self._act if self._phase == "forward" else 0
        self.peak_backward = self._act if self._phase == "backward" else 0

    def snapshot(self, label: str = "") -> MemorySnapshot:
        """What is held now, per op: a :class:`MemorySnapshot` named ``label``.

        >>> MemoryTracker().snapshot("empty").total
        0
        """
        self._drain()
        by_op: dict[str, int] = {}
        leaves: dict[str, int] = {}
        for nb, nl, _na, holders in self._bufs.values():
            op = next(iter(holders.values()))
            d = leaves if nl else by_op
            d[op] = d.get(op, 0) + nb
        return MemorySnapshot(str(label), self._act, self._leaf, by_op, leaves, len(self._nodes))

    def to_dict(self) -> dict:
        """Current and peak figures, in bytes."""
        self._drain()
        return {"current": self._act, "leaves": self._leaf, "peak": self.peak, "peak_total": self.peak_total,
                "peak_forward": self.peak_forward, "peak_backward": self.peak_backward}

    def __str__(self) -> str:
        d = self.to_dict()
        return "\n".join([
            "saved tensors (arrays recorded graph nodes hold for backward, each memory block once)",
            f"  peak activations   {_fmt_bytes(d['peak'])}  (forward {_fmt_bytes(d['peak_forward'])}, "
            f"backward {_fmt_bytes(d['peak_backward'])})",
            f"  peak with leaves   {_fmt_bytes(d['peak_total'])}",
            f"  held now           {_fmt_bytes(d['current'])} activations, {_fmt_bytes(d['leaves'])} leaves"])

    def __repr__(self) -> str:
        return f"<MemoryTracker current={self._act} B peak={self.peak} B>"

    def __enter__(self) -> "MemoryTracker":
        self._start(None)
        self._watch = observe(_Recorder(None, self))
        self._watch.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._watch.__exit__(*exc)
        self._stop()

    # -- the observer's side ---------------------------------------------------
    def _start(self, timeline: list | None) -> None:
        if self._state != "new":
            raise ProfilerError("a MemoryTracker follows one block; call xpgrad.profiler.track_memory() "
                                "again for another")
        self._state = "running"
        self._timeline = timeline

    def _stop(self) -> None:
        self._drain()
        self._state = "done"
        self._nodes.clear()     # the weak references go: later releases change nothing
        self._ids.clear()
        self._pending.clear()

    def _dead(self, ref: _NodeRef) -> None:   # any thread, at any allocation: only queue it
        self._pending.append(ref.token)

    def _drain(self) -> None:
        pending = self._pending
        while pending:
            token = pending.popleft()
            rec = self._nodes.pop(token, None)
            if rec is not None:
                if self._ids.get(rec[1]) == token:
                    del self._ids[rec[1]]
                self._drop(token, rec[2])

    def _note(self) -> None:
        if self._timeline is not None:
            self._timeline.append((_clock(), self._act, self._leaf))

    def _backward_begins(self) -> None:
        self._drain()
        self._phase = "backward"
        if self._act > self.peak_backward:
            self.peak_backward = self._act

    def _add(self, node: Node, phase: str) -> None:
        self._drain()
        if id(node) in self._ids or node.freed:
            return
        entries: dict[int, tuple[int, bool]] = {}
        args = node.args or ()
        for i, r in enumerate(node.raw or ()):
            if not _is_arr(r):
                continue
            a = args[i] if i < len(args) else None
            leaf = not isinstance(a, Tensor) or a.is_leaf
            key, nb = memory_block(r)
            old = entries.get(key)
            entries[key] = (nb, leaf or (old is not None and old[1]))
        for o in (node.out if node.n_out > 1 else (node.out,)):
            if _is_arr(o):
                key, nb = memory_block(o)
                if key not in entries:
                    entries[key] = (nb, False)
        if node.params:
            for a in _saved_in(node.params):   # activations, unless a leaf's block (checked per block)
                key, nb = memory_block(a)
                if key not in entries:
                    entries[key] = (nb, False)
        token = self._next
        self._next += 1
        self._nodes[token] = (_ref(node, self._dead, token), id(node), entries)
        self._ids[id(node)] = token
        name = node.op.name
        bufs = self._bufs
        for key, (nb, leaf) in entries.items():
            buf = bufs.get(key)
            if buf is None:
                buf = bufs[key] = [nb, 0, 0, {}]
                was = None
            else:
                was = buf[1] > 0
            buf[1 if leaf else 2] += 1
            buf[3][token] = name
            now = buf[1] > 0
            if was is None:
                if now:
                    self._leaf += nb
                else:
                    self._act += nb
            elif was != now:   # a block first saved as an activation turns out to be a leaf's
                self._act -= buf[0]
                self._leaf += buf[0]
        self._phase = phase
        act = self._act
        if act > self.peak:
            self.peak = act
        if act + self._leaf > self.peak_total:
            self.peak_total = act + self._leaf
        if phase == "forward":
            if act > self.peak_forward:
                self.peak_forward = act
        elif act > self.peak_backward:
            self.peak_backward = act
        self._note()

    def _release_node(self, node: Node) -> None:
        self._drain()
        token = self._ids.pop(id(node), None)
        if token is None:
            return
        rec = self._nodes.pop(token)
        self._drop(token, rec[2])

    def _drop(self, token: int, entries: dict) -> None:
        bufs = self._bufs
        for key, (_nb, leaf) in entries.items():
            buf = bufs[key]
            was = buf[1] > 0
            buf[1 if leaf else 2] -= 1
            buf[3].pop(token, None)
            if buf[1] + buf[2] == 0:
                del bufs[key]
                if was:
                    self._leaf -= buf[0]
                else:
                    self._act -= buf[0]
            elif was and buf[1] == 0:   # only activation holders are left
                self._leaf -= buf[0]
                self._act += buf[0]
        self._note()


def _ref(node: Node, callback: Callable, token: int) -> _NodeRef:
    r = _NodeRef(node, callback)
    r.token = token
    return r


def _saved_in(params: Any, depth: int = 0) -> Iterator[Any]:
    """Arrays a node keeps among its parameters (a custom VJP's residuals, saved for backward)."""
    for v in params.values() if isinstance(params, dict) else params:
        if isinstance(v, Tensor):
            yield v.data
        elif _is_arr(v):
            yield v
        elif isinstance(v, (list, tuple, dict)) and v and depth < 4:
            yield from _saved_in(v, depth + 1)


def track_memory() -> MemoryTracker:
    """``with track_memory() as mem:`` counts the bytes graph nodes recorded in the block keep for backward.

    No timing: the cheapest way to compare the memory of two ways to compute a step
    (with and without checkpointing, say). See :class:`MemoryTracker`.

    >>> import xpgrad as xg
    >>> with track_memory() as mem:
    ...     y = xg.exp(xg.asarray([1.0, 2.0], requires_grad=True))
    >>> mem.peak
    16
    """
    return MemoryTracker()


# ---------------------------------------------------------------------------
# the profile
# ---------------------------------------------------------------------------

class profile:
    """``with profile() as prof:`` times every op call and VJP in the block; ``print(prof)`` shows the table.

    ``sync`` waits for asynchronous devices before each clock reading (device
    times, see the module notes); ``record_shapes`` keeps each call's input shapes
    and dtypes (needed for ``group_by="op+shape"``); ``with_stack`` keeps the user's
    line that made each call; ``memory`` counts saved bytes as ``prof.memory``
    (a :class:`MemoryTracker`). ``prof.events`` holds the :class:`Event` s in the
    order they ended.

    >>> import xpgrad as xg
    >>> x = xg.asarray([1.0, 2.0, 3.0], requires_grad=True)
    >>> with xg.profiler.profile() as prof:
    ...     xg.exp(xg.exp(x)).sum().backward()
    >>> sorted((r.name, r.phase, r.calls) for r in prof.key_averages())
    [('exp', 'backward', 2), ('exp', 'forward', 2), ('sum', 'backward', 1), ('sum', 'forward', 1)]
    >>> prof.memory.peak, prof.memory.current
    (56, 0)
    """

    def __init__(self, *, sync: bool = True, record_shapes: bool = False, with_stack: bool = False,
                 memory: bool = True) -> None:
        self.sync = bool(sync)
        self.record_shapes = bool(record_shapes)
        self.with_stack = bool(with_stack)
        self.events: list[Event] = []
        self.memory: MemoryTracker | None = MemoryTracker() if memory else None
        self.wall_ns = 0
        self._timeline: list = []
        self._state = "new"
        self._watch: Any = None
        self._rec: _Recorder | None = None

    def __enter__(self) -> "profile":
        if self._state != "new":
            raise ProfilerError("a profile object records one block; make a new xpgrad.profiler.profile() "
                                "for the next one")
        self._state = "running"
        rec = self._rec = _Recorder(self, self.memory)
        rec.thread = threading.get_native_id()
        if self.memory is not None:
            self.memory._start(self._timeline)
        self._watch = observe(rec)
        self._watch.__enter__()
        rec.origin = self._origin = _clock()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall_ns = _clock() - self._origin
        self._watch.__exit__(*exc)
        if self.memory is not None:
            self.memory._stop()
        self._state = "done"

    # -- summaries -------------------------------------------------------------
    def key_averages(self, group_by: str = "op") -> list[Row]:
        """The events added up per op, phase and device (``group_by="op"``), also per kernel
        (``"op+kernel"``) or per input shapes (``"op+shape"``, with ``record_shapes=True``).

        Rows come in the order their first call ended.

        >>> import xpgrad as xg
        >>> with profile(record_shapes=True) as prof:
        ...     _ = xg.ones((2, 3)) * 2.0
        ...     _ = xg.ones((4,)) * 2.0
        >>> [(r.name, r.shapes) for r in prof.key_averages("op+shape")]
        [('multiply', '[(2, 3), None]'), ('multiply', '[(4,), None]')]
        """
        if group_by not in GROUPS:
            raise ProfilerError(f"key_averages(group_by={group_by!r}): group by one of {', '.join(GROUPS)}")
        if group_by == "op+shape" and not self.record_shapes:
            raise ProfilerError("key_averages(group_by='op+shape') needs the shapes: "
                                "profile with xpgrad.profiler.profile(record_shapes=True)")
        rows: dict[tuple, Row] = {}
        kernels: dict[tuple, collections.Counter] = {}
        for e in self.events:
            shapes = str(list(e.shapes)) if group_by == "op+shape" else None
            key = (e.name, e.phase, e.device, e.kernel if group_by == "op+kernel" else None, shapes)
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row(e.name, e.phase, e.device, e.kernel, shapes)
                kernels[key] = collections.Counter()
            row.calls += 1
            row.total_ns += e.total_ns
            row.self_ns += e.self_ns
            row.bytes += e.bytes
            kernels[key][e.kernel] += 1
        total_self = sum(r.self_ns for r in rows.values()) or 1
        for key, row in rows.items():
            row.kernel = "/".join(k for k, _ in kernels[key].most_common())
            row.share = row.self_ns / total_self
        return list(rows.values())

    def table(self, sort_by: str = "total", row_limit: int | None = None, group_by: str = "op") -> str:
        """The rows of :meth:`key_averages` as text, sorted by ``sort_by``, at most ``row_limit`` of them.

        ``sort_by`` is ``total`` (time with nested calls), ``self``, ``calls``,
        ``mean``, ``bytes`` (all largest first) or ``name``.

        >>> with profile() as prof:
        ...     pass
        >>> print(prof.table())
        no op ran in the profiled block
        """
        if sort_by not in SORT_KEYS:
            raise ProfilerError(f"table(sort_by={sort_by!r}): sort by one of {', '.join(SORT_KEYS)}")
        if row_limit is not None and (not isinstance(row_limit, int) or row_limit < 0):
            raise ProfilerError(f"table(row_limit={row_limit!r}): give a number of rows >= 0, "
                                "or None for all")
        rows = self.key_averages(group_by)
        if not rows:
            return "no op ran in the profiled block"
        order = {"total": lambda r: -r.total_ns, "self": lambda r: -r.self_ns, "calls": lambda r: -r.calls,
                 "mean": lambda r: -r.mean_us, "bytes": lambda r: -r.bytes,
                 "name": lambda r: (r.name, r.phase)}[sort_by]
        rows.sort(key=order)
        shown = rows if row_limit is None else rows[:row_limit]
        head = ["op", "phase", "device", "kernel", "calls", "total ms", "self ms", "mean µs", "% of total",
                "bytes allocated"]
        if group_by == "op+shape":
            head.insert(4, "input shapes")
        body = []
        for r in shown:
            cells = [r.name, r.phase, r.device, r.kernel, str(r.calls), f"{r.total_ms:.3f}",
                     f"{r.self_ms:.3f}", f"{r.mean_us:.1f}", f"{100 * r.share:.1f}", _fmt_bytes(r.bytes)]
            if group_by == "op+shape":
                cells.insert(4, r.shapes)
            body.append(cells)
        numeric = ("calls", "total ms", "self ms", "mean µs", "% of total", "bytes allocated")
        right = {i for i, h in enumerate(head) if h in numeric}
        lines = _grid(head, body, right)
        self_ms = sum(r.self_ns for r in rows) / 1e6
        more = f" ({len(rows) - len(shown)} more rows not shown)" if len(shown) < len(rows) else ""
        lines.append(f"{len(self.events)} calls in {len(rows)} rows{more}; ops and VJPs took "
                     f"{self_ms:.3f} ms of the block's {self.wall_ns / 1e6:.3f} ms"
                     + (" (device times: synchronized)" if self.sync else " (not synchronized)"))
        return "\n".join(lines)

    def __str__(self) -> str:
        out = self.table()
        if self.memory is not None:
            out += "\n\n" + str(self.memory)
        return out

    def __repr__(self) -> str:
        return f"<profile: {len(self.events)} events, {self._state}>"

    def to_dict(self) -> dict:
        """Events, rows and memory figures as plain JSON-ready values.

        >>> with profile() as prof:
        ...     pass
        >>> sorted(profile().to_dict())
        ['events', 'memory', 'rows', 'sync', 'wall_ms']
        """
        return {"sync": self.sync, "wall_ms": self.wall_ns / 1e6,
                "events": [e.to_dict() for e in self.events],
                "rows": [r.to_dict() for r in self.key_averages()],
                "memory": self.memory.to_dict() if self.memory is not None else None}

    # -- Chrome trace ------------------------------------------------------------
    def trace_events(self) -> list[dict]:
        """The events in the Trace Event Format: one ``X`` (complete) event per call, in µs,
        one track per device and phase, and a ``C`` counter track of saved bytes.

        >>> import xpgrad as xg
        >>> with profile() as prof:
        ...     _ = xg.ones(2) * 2.0
        >>> [e["ph"] for e in prof.trace_events() if e["name"] == "multiply"]
        ['X']
        """
        pid = os.getpid()
        tracks: dict[tuple[str, str], int] = {}
        out: list[dict] = [{"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                            "args": {"name": "xpgrad"}}]
        calls = []
        for e in sorted(self.events, key=lambda e: (e.start_ns, -e.total_ns)):
            tid = tracks.setdefault((e.device, e.phase), len(tracks) + 1)
            args: dict[str, Any] = {"kernel": e.kernel, "device": e.device, "bytes": e.bytes,
                                    "self_us": round(e.self_ns / 1e3, 3)}
            if e.shapes is not None:
                args["shapes"] = [list(s) if s is not None else None for s in e.shapes]
                args["dtypes"] = list(e.dtypes)
            if e.stack:
                args["stack"] = e.stack
            calls.append({"name": e.name, "cat": e.phase, "ph": "X", "ts": round(e.start_ns / 1e3, 3),
                          "dur": round(e.total_ns / 1e3, 3), "pid": pid, "tid": tid, "args": args})
        for (device, phase), tid in sorted(tracks.items(), key=lambda kv: kv[1]):
            out.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                        "args": {"name": f"{device} {phase}"}})
            out.append({"name": "thread_sort_index", "ph": "M", "pid": pid, "tid": tid,
                        "args": {"sort_index": tid}})
        out += calls
        for t, act, leaf in self._timeline:
            out.append({"name": "saved tensors (bytes)", "ph": "C", "pid": pid, "tid": 0,
                        "ts": round((t - self._origin) / 1e3, 3),
                        "args": {"activations": act, "leaves": leaf}})
        return out

    def export_chrome_trace(self, path: str | os.PathLike) -> None:
        """Write the trace as JSON to ``path``, atomically, for ``chrome://tracing`` or ui.perfetto.dev.

        One event per line; the file appears complete or not at all (a failure
        leaves an existing file untouched).

        >>> import os, tempfile, json
        >>> with profile() as prof:
        ...     pass
        >>> p = os.path.join(tempfile.mkdtemp(), "trace.json")
        >>> prof.export_chrome_trace(p)
        >>> sorted(json.load(open(p)))
        ['displayTimeUnit', 'otherData', 'traceEvents']
        """
        target = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            raise ProfilerError(f"export_chrome_trace({target!r}): the folder {folder!r} does not exist; "
                                "create it first or write elsewhere")
        events = self.trace_events()
        other = {"producer": "xpgrad.profiler", "sync": self.sync, "wall_ms": self.wall_ns / 1e6}
        if self.memory is not None:
            other["memory"] = self.memory.to_dict()

        def write(f: Any) -> None:
            f.write(b'{"displayTimeUnit": "ms",\n"otherData": ')
            f.write(json.dumps(other).encode())
            f.write(b',\n"traceEvents": [\n')
            for i, ev in enumerate(events):
                f.write(((",\n" if i else "") + json.dumps(ev, ensure_ascii=False)).encode())
            f.write(b"\n]}\n")
        atomic_write(target, write)
