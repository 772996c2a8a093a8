"""``Optimizer``: parameter groups, per-parameter state and state dicts, as in ``torch.optim``.

Subclasses write one method, :meth:`Optimizer._update`, the published update
rule of their algorithm for one parameter group. It works on the raw backend
arrays (``p.data``, ``p.grad.data``, namespace ``p._b.xp``), never through the
tape: a training step then costs what hand-written array code costs, keeps the
parameter's dtype, and reads nothing back from the device. Parameters are
updated in place (the Tensor object, and every view of its buffer, sees the
new values), and their version counter is advanced, so a graph recorded
before the step that saved a parameter refuses to run backward
(:class:`~xpgrad.InplaceError`) instead of silently using the new value.

State tensors (momentum buffers, moments) are xpgrad Tensors on the
parameter's device and step counts are Python ints, so :func:`xpgrad.save`
can store :meth:`Optimizer.state_dict` as it is.
"""

from __future__ import annotations

import math
import numbers
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..core.errors import (DeviceMismatchError, DTypeError, NotDifferentiableError, OpError, ShapeError,
                           describe)
from ..core.tape import enable_grad, mark_written
from ..core.tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of the optimizers: holds parameter groups and the state of each parameter.

    ``params`` is an iterable of Tensors, or of dicts (parameter groups) with
    a ``"params"`` entry and hyper-parameters that override ``defaults``:

    >>> import xpgrad as xg
    >>> w = xg.asarray([1.0, 2.0], requires_grad=True)
    >>> b = xg.asarray([0.5], requires_grad=True)
    >>> opt = xg.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
    >>> ((w * w).sum() + (b * b).sum()).backward()
    >>> opt.step()
    >>> w.tolist(), b.tolist()
    ([0.8, 1.6], [0.0])
    """

    #: State entries every parameter that has state must have, and those it may have besides
    #: (``None``: any); load_state_dict checks both.
    _state_keys: tuple[str, ...] = ()
    _state_optional: tuple[str, ...] | None = None

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        name = type(self).__name__
        if isinstance(params, (Tensor, dict)):
            what = "a single Tensor" if isinstance(params, Tensor) else "a single dict"
            raise OpError(f"{name}: params must be an iterable of Tensors or of dicts (parameter groups), "
                          f"got {what}; wrap it in a list: {name}([x], ...)")
        if isinstance(params, (set, frozenset)):
            raise OpError(f"{name}: params must be an ordered iterable (a list), not a set: the order "
                          "numbers the parameters in state dicts")
        try:
            groups = list(params)
        except TypeError:
            raise OpError(f"{name}: params must be an iterable of Tensors or of dicts, got "
                          f"{type(params).__name__}") from None
        if not groups:
            raise OpError(f"{name} got an empty parameter list; pass the tensors to optimize, "
                          "e.g. model.parameters()")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- parameter groups -------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (missing ones come from ``defaults``).

        Useful to train layers unfrozen later in training, e.g. when fine-tuning.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise OpError(f"{name}.add_param_group expects a dict with a 'params' entry, got "
                          f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise OpError(f"{name}.add_param_group: the group has no 'params' entry (keys: "
                          f"{sorted(param_group)})")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise OpError(f"{name}: the parameters of a group must be an ordered sequence (a list), not a "
                          "set: the order numbers the parameters in state dicts")
        else:
            params = list(params)
        index = len(self.param_groups)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        mine: set[int] = set()
        for i, p in enumerate(params):
            _check_param(name, index, i, p)
            if id(p) in mine:
                raise OpError(f"{name}: parameter {i} of group {index} ({describe(p)}) appears twice in "
                              "the group; pass each tensor once")
            if id(p) in seen:
                raise OpError(f"{name}: parameter {i} of group {index} ({describe(p)}) is already in another "
                              "parameter group; a tensor may belong to one group only")
            mine.add(id(p))
        group = {k: v for k, v in param_group.items() if k != "params"}
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check_group(group, index)
        group["params"] = params
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any], index: int) -> None:
        """Raise :class:`OpError` if a hyper-parameter of ``group`` is out of range (subclasses)."""

    # -- gradients ------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (default), or fill them with zeros in place.

        ``None`` is cheaper and lets :meth:`step` skip parameters that got no
        gradient; zeros keep the gradient Tensors (and any reference to them).
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif g._edge is not None:
                    # a gradient recorded with create_graph: cut it out of the graph, as torch does
                    p.grad = Tensor._make(g._b.xp.zeros_like(g.data), g._b)
                else:
                    d = g.data
                    try:
                        d[...] = 0
                    except (TypeError, ValueError):  # an immutable or read-only buffer
                        d = g._b.xp.zeros_like(d)
                    g.data = d
                    mark_written(g)

    # -- the update -------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s loss, if given.

        ``closure`` re-evaluates the model and returns the loss (it runs with
        gradients recorded, before the update).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        state = self.state
        for group in self.param_groups:
            for p in group["params"]:   # a model moved or cast after a step: its state follows
                st = state.get(p)
                if st:
                    for k, v in st.items():
                        if isinstance(v, Tensor) and (v._b is not p._b or v.dtype != p.dtype):
                            st[k] = Tensor(v.detach(), device=p.device, dtype=p.dtype)
            self._update(group)
        return loss

    def _update(self, group: dict[str, Any]) -> None:
        """Apply the algorithm's update rule to the parameters of one group (subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not define its update rule (_update)")

    # -- state dicts ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{hyper-parameters..., "params": [indices]}]}``.

        Parameters are numbered in group order, as in PyTorch. The state
        entries are the live state Tensors (not copies), as in PyTorch; save
        them or load them into another optimizer (which copies) right away.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                s = self.state.get(p)
                if s:
                    state[index[id(p)]] = dict(s)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load hyper-parameters and state saved by :meth:`state_dict` (of an optimizer of this kind).

        Groups must match in number and size. State tensors are copied onto
        each parameter's device, floating ones in the parameter's dtype; their
        shapes must be the parameter's. Nothing changes when anything does not fit.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise OpError(f"{name}.load_state_dict expects a dict with 'state' and 'param_groups' (what "
                          f"state_dict() returns), got {got}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise OpError(f"{name}.load_state_dict: the optimizer has {len(self.param_groups)} parameter "
                          f"group(s), the state dict {len(saved_groups)}; build the optimizer with the same "
                          "groups as the one that was saved")
        params: dict[int, Tensor] = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            ids = saved.get("params") if isinstance(saved, dict) else None
            if ids is None:
                raise OpError(f"{name}.load_state_dict: parameter group {i} of the state dict has no "
                              "'params' list")
            if len(ids) != len(group["params"]):
                raise OpError(f"{name}.load_state_dict: parameter group {i} has {len(group['params'])} "
                              f"parameter(s), the state dict's group {i} has {len(ids)}")
            for k, p in zip(ids, group["params"]):
                params[_index(name, k)] = p
        state: dict[Tensor, dict[str, Any]] = {}
        for k, saved in dict(state_dict["state"]).items():
            k = _index(name, k)
            if k not in params:
                raise OpError(f"{name}.load_state_dict: the state dict has state for parameter {k}, which "
                              f"no parameter group lists (indices: {sorted(params)})")
            p = params[k]
            entry = {key: _load_value(name, k, key, v, p) for key, v in dict(saved).items()}
            missing = [key for key in self._state_keys if key not in entry]
            known = self._state_optional
            allowed = None if known is None else (*self._state_keys, *known)
            unknown = [] if allowed is None else [key for key in entry if key not in allowed]
            if entry and (missing or unknown):
                raise OpError(f"{name}.load_state_dict: the state of parameter {k} has {sorted(entry)}, but "
                              f"{name} keeps {[*self._state_keys, *(known or ())]}; was it saved by another "
                              "kind of optimizer?")
            state[p] = entry
        groups = []
        for i, saved in enumerate(saved_groups):
            group = {k: v for k, v in saved.items() if k != "params"}
            for k, v in self.defaults.items():
                group.setdefault(k, v)
            self._check_group(group, i)
            groups.append(group)
        # everything fits: commit (group dicts are updated in place, so references to them stay valid)
        for group, new in zip(self.param_groups, groups):
            ps = group["params"]
            group.clear()
            group.update(new)
            group["params"] = ps
        self.state = defaultdict(dict, state)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# helpers shared by the algorithms
# ---------------------------------------------------------------------------

def _check_param(name: str, group: int, i: int, p: Any) -> None:
    if not isinstance(p, Tensor):
        raise NotDifferentiableError(f"{name}: parameter {i} of group {group} is a {type(p).__name__}, not "
                                     "an xpgrad Tensor; optimizers update Tensors (e.g. model.parameters())")
    if not p.is_leaf:
        raise OpError(f"{name}: parameter {i} of group {group} ({describe(p)}) is the result of an op, not a "
                      "leaf; optimize the tensor it was computed from, or a .detach()ed copy that "
                      "requires grad")
    if not p._b.xp.isdtype(p.dtype, "real floating"):
        raise DTypeError(f"{name}: parameter {i} of group {group} has dtype {p.dtype}; optimizers update "
                         "real floating-point tensors only")


def _index(name: str, k: Any) -> int:
    """A parameter index of a state dict (``"3"`` too: JSON turns dict keys into strings)."""
    if isinstance(k, bool):
        raise OpError(f"{name}.load_state_dict: {k!r} is not a parameter index")
    if isinstance(k, numbers.Integral):
        return int(k)
    if isinstance(k, str) and k.isdigit():
        return int(k)
    raise OpError(f"{name}.load_state_dict: {k!r} is not a parameter index (expected an int)")


def _load_value(name: str, k: int, key: str, v: Any, p: Tensor) -> Any:
    """A saved state entry made ready for parameter ``p``: a copy on its device, in its dtype if floating."""
    if key == "step":
        if isinstance(v, Tensor) or hasattr(v, "shape"):
            v = Tensor(v).item()  # a step count saved as a tensor: once, at load time
        if not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise OpError(f"{name}.load_state_dict: the step count of parameter {k} is {v!r}; expected a "
                          "non-negative number")
        return int(v) if float(v).is_integer() else float(v)
    if not (isinstance(v, Tensor) or (hasattr(v, "shape") and hasattr(v, "dtype"))):
        return v  # a plain Python value
    t = v if isinstance(v, Tensor) else Tensor(v)
    if tuple(t.shape) != p.shape:
        raise ShapeError(f"{name}.load_state_dict: state '{key}' of parameter {k} has shape "
                         f"{tuple(t.shape)} but the parameter has shape {p.shape}; the state dict belongs "
                         "to a model of another shape")
    floating = t._b.xp.isdtype(t.dtype, "real floating")
    out = Tensor(t, device=p.device, dtype=p.dtype if floating else None)
    if out.data is t.data:
        out = Tensor._make(out._b.copy(out.data), out._b)
    return out


def zeros_like(p: Tensor, fill: float = 0.0) -> Tensor:
    """A state Tensor shaped like ``p``, on its device and in its dtype, filled with ``fill``."""
    xp = p._b.xp
    z = xp.zeros_like(p.data) if fill == 0 else xp.full_like(p.data, fill)
    return Tensor._make(z, p._b)


def grad_of(name: str, p: Tensor) -> Any:
    """``p``'s gradient as a raw array, or ``None``; refuses one of another shape, dtype or device."""
    grad = p.grad
    if grad is None:
        return None
    g, d = grad.data, p.data
    if g.shape != d.shape or g.dtype != d.dtype or grad._b is not p._b:
        what = ("shape" if g.shape != d.shape else "dtype" if g.dtype != d.dtype else "device")
        err = {"shape": ShapeError, "dtype": DTypeError, "device": DeviceMismatchError}[what]
        raise err(f"{name}.step: the gradient of a parameter {describe(p)} is {describe(grad)}; it must "
                  f"have the parameter's {what} (was p.grad set by hand?)")
    return g


def with_grads(name: str, group: dict[str, Any]) -> Iterator[tuple[Tensor, Any]]:
    """``(p, g)`` for each parameter of ``group`` that has a gradient (a raw array, checked by
    :func:`grad_of`), negated when the group maximizes."""
    maximize = group.get("maximize", False)
    for p in group["params"]:
        g = grad_of(name, p)
        if g is not None:
            yield p, (-g if maximize else g)


def decay_(t: Tensor, keep: float, add: Any) -> Any:
    """``t ← keep·t + add`` in ``t``'s own buffer (a running average); returns the raw array."""
    a = t.data
    a *= keep
    a += add
    t.data = a   # for backends whose in-place operators return a new array
    return a


def commit(p: Tensor, data: Any) -> None:
    """Finish an update of ``p``: keep the (in-place updated) buffer and advance the version counter."""
    p.data = data
    mark_written(p)


def check_number(name: str, index: int, key: str, value: Any, low: float = 0.0, high: float = math.inf,
                 *, low_open: bool = False, high_open: bool = False) -> None:
    """Raise :class:`OpError` unless ``value`` is a real number in the interval [low, high]."""
    interval = outside(value, low, high, low_open=low_open, high_open=high_open)
    if interval:
        where = f" (parameter group {index})" if index else ""
        raise OpError(f"{name}: invalid {key}={value!r}{where}; it must be a number in {interval}")


def outside(value: Any, low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> str:
    """``""`` when ``value`` is a real number in the interval, else the interval written out."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
    if ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high):
        return ""
    return f"{'(' if low_open else '['}{low}, {high}{')' if high_open or high == math.inf else ']'}"


def as_params(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """A list of Tensors from one Tensor or an iterable of them."""
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)
