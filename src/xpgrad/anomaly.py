"""Anomaly detection: the first op whose forward or backward made a NaN or an Inf, and where it was called.

A NaN in a loss is found far from where it was made: one ``log(0)`` deep in a
network poisons every value computed after it, and its gradient every
gradient before it. Inside ``with xpgrad.detect_anomaly():`` an observer
(:class:`~xpgrad.core.tape.Observer`) checks

* **forward**: every floating output of every op call, as soon as the op
  returns — one reduction on the device (``all(isfinite(out))``) and one host
  read per output;
* **backward**: every cotangent a node's VJP gives its inputs, the same way.

The first non-finite value raises :class:`~xpgrad.AnomalyError` naming the op,
its inputs (shape, dtype, device) and whether they were already non-finite
(then the values came in from outside: data given to the op, not made by it),
and the stack where the op was called in the user's code. While the mode is on,
every recorded node keeps that call stack in ``node.meta``, so a backward
failure also says where the failing op was called in the forward pass — PyTorch
warns with that trace; this raises with both.

The cost — one host synchronisation per op output, and a walk of the Python
stack per recorded op — is paid only inside the block; outside it the engine
skips the observer machinery entirely. It is a debugging mode, not one to train in.

>>> import numpy as np
>>> import xpgrad as xg
>>> x = xg.asarray([1.0, 0.0])
>>> with np.errstate(divide="ignore"), xg.detect_anomaly():
...     try:
...         xg.log(x)
...     except xg.AnomalyError as e:
...         print(e.op, e.phase)
log forward
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from .core.errors import AnomalyError, describe
from .core.tape import Observer, observe
from .core.tensor import Leaf, Tensor

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]

_HERE = os.path.abspath(__file__)
_PKG = os.path.dirname(_HERE) + os.sep            # frames under this folder are xpgrad's own
# The engine's plumbing between an op call and the observer: left out of the stack a message shows.
_PLUMBING = tuple(os.path.join(_PKG, *f) for f in (("core", "tape.py"), ("core", "registry.py"),
                                                   ("core", "dispatch.py"), ("ops", "methods.py")))
_USER_FRAMES_SHOWN = 8                            # innermost frames of the caller's code in a message


class _Local(threading.local):
    def __init__(self) -> None:
        self.mode: tuple[bool, bool] | None = None   # (check_nan, check_inf) while on
        self.token: observe | None = None             # the installed observer's context
        self.saved: list = []                         # modes to restore, one per open detect_anomaly


_local = _Local()


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on in this thread.

    >>> is_anomaly_enabled()
    False
    """
    return _local.mode is not None


def _set_mode(mode: tuple[bool, bool] | None) -> None:
    """Turn detection on (``(check_nan, check_inf)``) or off (``None``) in this thread."""
    loc = _local
    if mode is None:
        if loc.token is not None:
            loc.token.__exit__(None, None, None)
            loc.token = None
    else:
        if loc.token is None:
            token = observe(_AnomalyObserver())
            token.__enter__()
            loc.token = token
        obs = loc.token.observer
        obs.check_nan, obs.check_inf = bool(mode[0]), bool(mode[1])
    loc.mode = mode


class detect_anomaly:
    """Raise :class:`~xpgrad.AnomalyError` at the first op whose forward or VJP makes a NaN or an Inf.

    A context manager (``with xpgrad.detect_anomaly(): ...``) or a decorator
    (``@xpgrad.detect_anomaly()``); it applies to the calling thread only.
    ``check_nan`` / ``check_inf`` choose what counts (turn ``check_inf`` off for
    code that masks with ``-inf`` on purpose, such as attention masks). Run
    both the forward pass and ``backward()`` inside it: a backward error can
    then say where the failing op was called in the forward pass.

    >>> import xpgrad as xg
    >>> @xg.detect_anomaly()
    ... def step(x):
    ...     return xg.sqrt(x).sum()
    >>> float(step(xg.asarray([4.0, 9.0])))
    5.0
    >>> import numpy as np
    >>> with np.errstate(invalid="ignore"):   # NumPy's own warning, for the doctest's quiet
    ...     try:
    ...         step(xg.asarray([-1.0]))
    ...     except xg.AnomalyError as e:
    ...         print(e.op)
    sqrt
    """

    def __init__(self, check_nan: bool = True, check_inf: bool = True) -> None:
        if callable(check_nan):
            raise TypeError("detect_anomaly is used with parentheses: `@xpgrad.detect_anomaly()` "
                            "or `with xpgrad.detect_anomaly():`")
        self.check_nan = bool(check_nan)
        self.check_inf = bool(check_inf)

    def __enter__(self) -> "detect_anomaly":
        _local.saved.append(_local.mode)   # kept per thread: one instance may serve several threads
        _set_mode((self.check_nan, self.check_inf))
        return self

    def __exit__(self, *exc: Any) -> None:
        _set_mode(_local.saved.pop())

    def __call__(self, fn: Callable) -> Callable:
        nan, inf = self.check_nan, self.check_inf

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(nan, inf):
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly:
    """Turn anomaly detection on or off in this thread now; as a context manager, restore it on exit.

    >>> import xpgrad as xg
    >>> with xg.set_detect_anomaly(True):
    ...     xg.anomaly.is_anomaly_enabled()
    True
    >>> xg.anomaly.is_anomaly_enabled()
    False
    """

    def __init__(self, mode: bool, check_nan: bool = True, check_inf: bool = True) -> None:
        self.prev = _local.mode
        _set_mode((bool(check_nan), bool(check_inf)) if mode else None)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        _set_mode(self.prev)


# ---------------------------------------------------------------------------
# the observer
# ---------------------------------------------------------------------------

def _capture() -> tuple:
    """The Python stack here as ``(code, instruction offset)`` pairs, outermost first.

    Cheap enough to take on every recorded op (no line numbers are computed, no frame or local
    variable is kept alive); :func:`_resolve` turns it into file, line and function for a message.
    """
    f = sys._getframe(1)
    frames = []
    while f is not None:
        frames.append((f.f_code, f.f_lasti))
        f = f.f_back
    frames.reverse()
    return tuple(frames)


def _line(code: Any, lasti: int) -> int:
    for start, end, line in code.co_lines():
        if start <= lasti < end and line is not None:
            return line
    return code.co_firstlineno


def _resolve(stack: tuple) -> tuple:
    """``(file, line, function)`` per frame of a captured stack, without this module's frames."""
    return tuple((code.co_filename, _line(code, lasti), code.co_name) for code, lasti in stack
                 if code.co_filename != _HERE)


class _AnomalyObserver(Observer):
    """Checks op outputs and VJP cotangents for NaN/Inf; stamps recorded nodes with their call stack."""

    def __init__(self) -> None:
        self.check_nan = True
        self.check_inf = True
        # Calls in progress, innermost last: an op observed while another op's call is running comes
        # from that op's JVP rule; one observed inside a VJP (create_graph) from that node's rule.
        self.calls: list = []
        self.vjps: list = []

    def before(self, op: Any, args: tuple, params: dict) -> None:
        self.calls.append(op)

    def before_vjp(self, node: Any, g: Any) -> None:
        self.vjps.append(node)

    def _bad(self, b: Any, a: Any) -> bool:
        """Whether array ``a`` on backend ``b`` holds a value that counts: one reduction, one host read."""
        if not b.is_floating(a.dtype):
            return False
        xp = b.xp
        if self.check_nan and self.check_inf:
            return not bool(b.to_host(xp.all(xp.isfinite(a))))
        if self.check_nan:
            return bool(b.to_host(xp.any(xp.isnan(a))))
        if self.check_inf:
            return bool(b.to_host(xp.any(xp.isinf(a))))
        return False

    def after(self, op: Any, args: tuple, params: dict, result: Any) -> None:
        _pop(self.calls, op)
        outs = result if isinstance(result, tuple) else (result,)
        node = None
        for i, t in enumerate(outs):
            if not isinstance(t, Tensor):
                continue
            if self._bad(t._b, t.data):
                raise _forward_error(self, op, args, outs, i, _resolve(_capture()))
            e = t._edge
            if node is None and e is not None and type(e[0]) is not Leaf:
                node = e[0]
        if node is not None:   # for a backward error: where this op was called
            node.meta = {**(node.meta or {}), "anomaly_stack": _capture()}

    def after_vjp(self, node: Any, g: Any, cotangents: list) -> None:
        _pop(self.vjps, node)
        for i, ct in enumerate(cotangents):
            if ct is None:
                continue
            if isinstance(ct, Tensor):
                b, a = ct._b, ct.data
            else:
                b, a = node.b, ct
            if self._bad(b, a):
                raise _backward_error(self, node, g, i, b, a)


# ---------------------------------------------------------------------------
# messages (failure path only: host copies and counting are fine here)
# ---------------------------------------------------------------------------

def _host(b: Any, a: Any) -> np.ndarray:
    return np.asarray(b.to_host(a))


def _census(h: np.ndarray) -> str:
    """'3 of 32 values are non-finite (1 NaN, 2 -Inf), the first at index (2, 1)'."""
    nan = np.isnan(h)
    inf = np.isinf(h)
    if np.iscomplexobj(h):
        pos = neg = None
    else:
        pos = int(np.count_nonzero(inf & (h > 0)))
        neg = int(np.count_nonzero(inf & (h < 0)))
    bad = nan | inf
    counts = [(int(np.count_nonzero(nan)), "NaN")]
    counts += [(int(np.count_nonzero(inf)), "Inf")] if pos is None else [(pos, "+Inf"), (neg, "-Inf")]
    parts = [f"{n} {kind}" for n, kind in counts if n]
    first = np.argwhere(bad)
    where = f", the first at index {tuple(int(k) for k in first[0])}" if len(first) and h.ndim else ""
    return f"{int(np.count_nonzero(bad))} of {h.size} values are non-finite ({', '.join(parts)}){where}"


def _kind(h: np.ndarray) -> str:
    """The first kind of non-finite value ``h`` holds, for the headline: 'NaN', '+Inf' or '-Inf'."""
    if np.isnan(h).any():
        return "NaN"
    if not np.iscomplexobj(h) and np.isneginf(h).any():
        return "-Inf" if not np.isposinf(h).any() else "Inf"
    return "Inf"


def _value_state(a: Any, b: Any | None) -> str | None:
    """``None`` when ``a`` (a Tensor, array or Python number) holds nothing non-finite, else its census."""
    if isinstance(a, Tensor):
        b, a = a._b, a.data
    if isinstance(a, (int, float, complex)) and not isinstance(a, bool):
        v = complex(a)
        return None if math.isfinite(v.real) and math.isfinite(v.imag) else f"the number {a!r}"
    if b is None or not hasattr(a, "dtype"):
        return None
    if not b.is_floating(a.dtype):
        return None
    h = _host(b, a)
    return _census(h) if not np.all(np.isfinite(h)) else None


def _frames(stack: tuple) -> traceback.StackSummary:
    return traceback.StackSummary.from_list([(f, n, name, None) for f, n, name in stack])


def _is_user(frame: tuple) -> bool:
    return not os.path.abspath(frame[0]).startswith(_PKG)


def _where(stack: tuple, what: str) -> str:
    """Where ``what`` was called: the innermost frame of the caller's code, then their stack, then ours."""
    user_at = [k for k, f in enumerate(stack) if _is_user(f)]
    lines = []
    if user_at:
        f, n, name = stack[user_at[-1]]
        lines.append(f"{what} was called at {f}:{n}, in {name}")
        shown = [stack[k] for k in user_at[-_USER_FRAMES_SHOWN:]]
        more = f" ({len(user_at) - len(shown)} outer frames left out)" if len(user_at) > len(shown) else ""
        lines.append(f"Your code, most recent call last{more}:")
        lines.append("".join(_frames(tuple(shown)).format()).rstrip())
    else:
        lines.append(f"{what} was called from inside xpgrad only (no frame of your code on the stack)")
    # xpgrad's own frames below the caller's innermost one (a layer's forward, a loss), plumbing left out
    ours = [f for f in stack[(user_at[-1] + 1 if user_at else 0):]
            if os.path.abspath(f[0]) not in _PLUMBING]
    if ours:
        lines.append("Inside xpgrad, most recent call last:")
        lines.append("".join(_frames(tuple(ours[-4:])).format()).rstrip())
    lines.append("(the whole stack is on the exception's .stack)")
    return "\n".join(lines)


def _pop(stack: list, item: Any) -> None:
    """Remove ``item`` and whatever an exception left above it (a call that raised never reports back)."""
    while stack:
        if stack.pop() is item:
            return


def _inputs_report(obs: _AnomalyObserver, args: tuple, b: Any) -> tuple[str, list[int]]:
    lines = []
    bad = []
    for j, a in enumerate(args):
        if a is None:
            continue
        state = _value_state(a, b)
        if state is None:
            lines.append(f"  input {j}: {describe(a)}, finite")
        else:
            bad.append(j)
            lines.append(f"  input {j}: {describe(a)}, NOT finite: {state}")
    return "\n".join(lines), bad


def _forward_error(obs: _AnomalyObserver, op: Any, args: tuple, outs: tuple, i: int,
                   stack: tuple) -> AnomalyError:
    t = outs[i]
    h = _host(t._b, t.data)
    name = op.name
    which = f"output {i}" if len(outs) > 1 else "output"
    head = (f"detect_anomaly: the forward of '{name}' produced {_kind(h)} in its {which} "
            f"({describe(t)}): {_census(h)}.")
    ins, bad = _inputs_report(obs, args, t._b)
    if bad:
        verdict = (f"Input {', '.join(map(str, bad))} already held non-finite values, so '{name}' did not "
                   "make them: the culprit is upstream, outside the checked ops — data given to it (an "
                   "array created with NaN/Inf in it, or one computed before anomaly detection was on). "
                   "Look at where that input was made.")
    else:
        verdict = f"All its inputs were finite, so '{name}' itself made the first non-finite value."
    node = obs.vjps[-1] if obs.vjps else None
    if node is not None:  # an op inside a VJP rule (create_graph): the backward of `node` is the culprit
        head = (f"detect_anomaly: the backward (VJP) of '{node.op.name}' produced {_kind(h)} while "
                f"computing '{name}' ({describe(t)}): {_census(h)}.")
        fwd = _recorded_stack(node)
        msg = "\n".join([head, "Inputs of that step:", ins, verdict,
                         _forward_where(fwd, node.op.name)])
        return AnomalyError(msg, op=node.op.name, phase="backward", stack=_frames(fwd or stack))
    jop = obs.calls[-1] if obs.calls else None
    if jop is not None:  # an op inside a JVP rule: the tangent of `jop` is what went wrong
        head = (f"detect_anomaly: the forward-mode derivative (JVP) of '{jop.name}' produced {_kind(h)} "
                f"while computing '{name}' ({describe(t)}): {_census(h)}.")
        msg = "\n".join([head, "Inputs of that step:", ins, verdict, _where(stack, f"'{jop.name}'")])
        return AnomalyError(msg, op=jop.name, phase="forward", stack=_frames(stack))
    msg = "\n".join([head, "Its inputs:", ins, verdict, _where(stack, f"'{name}'")])
    return AnomalyError(msg, op=name, phase="forward", stack=_frames(stack))


def _recorded_stack(node: Any) -> tuple | None:
    """The stack where ``node``'s op was called, as stamped in the forward pass (resolved), or ``None``."""
    raw = (node.meta or {}).get("anomaly_stack")
    return None if raw is None else _resolve(raw)


def _forward_where(fwd: tuple | None, name: str) -> str:
    if fwd is None:
        return (f"Where '{name}' was called in the forward pass was not recorded: the forward pass ran "
                "outside detect_anomaly. Run it inside the block too to see that stack.")
    return "The forward call was at:\n" + _where(fwd, f"'{name}'")


def _backward_error(obs: _AnomalyObserver, node: Any, g: Any, i: int, b: Any, a: Any) -> AnomalyError:
    name = node.op.name
    h = _host(b, a)
    raw = node.raw[i] if node.raw is not None and i < len(node.raw) else None
    head = (f"detect_anomaly: the backward (VJP) of '{name}' produced {_kind(h)} in the gradient of its "
            f"input {i} ({describe(raw) if raw is not None else describe(a)}): {_census(h)}.")
    gs = g if isinstance(g, tuple) else (g,)
    g_states = []
    for k, gk in enumerate(gs):
        if gk is None:
            continue
        s = _value_state(gk, node.b)
        if s is not None:
            g_states.append(f"output {k}: {s}" if len(gs) > 1 else s)
    if g_states:
        verdict = ("The incoming gradient (the cotangent of its output) was already non-finite ("
                   + "; ".join(g_states) + "). No VJP made it — each is checked — so it came from the "
                   "gradient given to backward(), from a gradient hook, or from adding up the gradients "
                   "of several uses of that output, which overflowed.")
    else:
        verdict = f"The incoming gradient (the cotangent of its output) was finite, so the VJP of '{name}' " \
                  "made the first non-finite value."
        saved = []
        for j, r in enumerate(node.raw or ()):
            s = _value_state(r, node.b) if r is not None else None
            if s is not None:
                saved.append(f"input {j} ({s})")
        if saved:
            verdict += (" The forward inputs it saved were already non-finite: " + "; ".join(saved)
                        + " — the forward pass ran without these checks.")
        elif raw is not None and hasattr(raw, "dtype"):
            verdict += (f" Its forward input {i} was finite: the derivative of '{name}' is infinite or "
                        "undefined at some of its values, or overflows (sqrt or log at 0, a division "
                        "by a tiny number).")
    fwd = _recorded_stack(node)
    msg = "\n".join([head, verdict, _forward_where(fwd, name)])
    return AnomalyError(msg, op=name, phase="backward", stack=_frames(fwd) if fwd else None)
