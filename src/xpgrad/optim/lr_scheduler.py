"""Learning-rate schedules that set ``group["lr"]`` of an optimizer, with PyTorch's names and numbers.

Call ``scheduler.step()`` once per epoch (or per batch for OneCycleLR), after
``optimizer.step()``. As in PyTorch, the multiplicative schedules (StepLR,
MultiStepLR, ExponentialLR, LinearLR) and CosineAnnealingLR are *chainable*:
each step changes the current ``group["lr"]`` by the schedule's factor from the
previous epoch to this one, so two schedulers stepped together multiply, and
an lr changed by hand is carried along. ``step(epoch)`` jumps to ``epoch``
with the closed form (``base_lr`` times the schedule's factor).

Scheduler state dicts hold plain Python values only (numbers, strings,
lists), so :func:`xpgrad.save` stores them in its JSON metadata.
"""

from __future__ import annotations

import copy
import math
import numbers
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from ..core.errors import OpError
from .optimizer import Optimizer, outside

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
           "OneCycleLR", "ReduceLROnPlateau", "SequentialLR"]


def _check_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise OpError(f"{name} schedules an xpgrad.optim.Optimizer, got {type(optimizer).__name__}")


def _int(name: str, key: str, value: Any, low: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise OpError(f"{name}: {key} must be an integer >= {low}, got {value!r}")
    return int(value)


def _real(name: str, key: str, value: Any, low: float = -math.inf, high: float = math.inf, *,
          low_open: bool = False, high_open: bool = False) -> float:
    interval = outside(value, low, high, low_open=low_open, high_open=high_open)
    if interval:
        raise OpError(f"{name}: {key} must be a number in {interval}, got {value!r}")
    return float(value)


def _per_group(name: str, key: str, value: Any, optimizer: Optimizer) -> list[float]:
    n = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise OpError(f"{name}: {key} has {len(value)} values but the optimizer has {n} parameter "
                          "group(s); give one per group, or a single number")
        return [_real(name, f"{key}[{i}]", v) for i, v in enumerate(value)]
    return [_real(name, key, value)] * n


class LRScheduler:
    """Base class: ``step()``, ``get_last_lr()``, ``last_epoch``, ``state_dict()``/``load_state_dict()``.

    A subclass defines :meth:`get_lr` (the lrs at ``last_epoch``, from the
    current ones) and, where one exists, :meth:`_closed_form` (from ``base_lrs``).
    ``last_epoch=-1`` starts a schedule; ``last_epoch=k`` resumes one after
    epoch ``k`` (the optimizer, loaded from its state dict, already holds the
    lrs and each group's ``initial_lr``).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        _check_optimizer(name, optimizer)
        last_epoch = _int(name, "last_epoch", last_epoch, -1)
        self.optimizer = optimizer
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group in groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            missing = [i for i, group in enumerate(groups) if "initial_lr" not in group]
            if missing:
                raise OpError(f"{name}: last_epoch={last_epoch} resumes a schedule, but parameter group(s) "
                              f"{missing} have no 'initial_lr'; load the optimizer's state dict first, or "
                              "start with last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        self._step_count = 0
        if self.last_epoch >= 0 and self._chainable:
            # resuming: the loaded optimizer already holds this epoch's lrs
            self._step_count = 1
            self.last_epoch += 1
            self._set([group["lr"] for group in self.optimizer.param_groups])
        else:
            self.step()

    _chainable = True  # lrs follow from the current ones (False: computed from scratch each step)

    def get_lr(self) -> list[float]:
        """The learning rates of epoch ``last_epoch`` (computed, not applied)."""
        raise NotImplementedError(f"{type(self).__name__} does not define get_lr")

    def _closed_form(self) -> list[float]:
        return self.get_lr()

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule by one epoch (or jump to ``epoch``) and set each group's lr."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = _int(type(self).__name__, "epoch", epoch, 0)
            lrs = self._closed_form()
        self._set(lrs)

    def _jump(self, epoch: int) -> None:
        """Set the lrs of ``epoch`` from the closed form, without counting a step (SequentialLR)."""
        self.last_epoch = epoch
        self._set(self._closed_form())

    def _set(self, lrs: Sequence[float]) -> None:
        groups = self.optimizer.param_groups
        if len(lrs) != len(groups):
            raise OpError(f"{type(self).__name__}: the optimizer has {len(groups)} parameter group(s) but "
                          f"the scheduler was made for {len(lrs)}; create the scheduler after "
                          "add_param_group")
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def _lrs(self) -> list[float]:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            raise OpError(f"{type(self).__name__}: the optimizer has {len(groups)} parameter group(s) but "
                          f"the scheduler was made for {len(self.base_lrs)}; create the scheduler after "
                          "add_param_group")
        return [group["lr"] for group in groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last step set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer, as plain Python values (a copy)."""
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (of a scheduler of this kind and configuration)."""
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise OpError(f"{name}.load_state_dict expects a dict, got {type(state_dict).__name__}")
        own = set(vars(self)) - {"optimizer"}
        missing, unexpected = sorted(own - set(state_dict)), sorted(set(state_dict) - own)
        if missing or unexpected:
            raise OpError(f"{name}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}; "
                          "was the state saved by another kind of scheduler?")
        n = len(self.optimizer.param_groups)
        lrs = state_dict.get("base_lrs", state_dict.get("_last_lr"))
        if lrs is not None and len(lrs) != n:
            raise OpError(f"{name}.load_state_dict: the state is for {len(lrs)} parameter group(s), the "
                          f"optimizer has {n}")
        vars(self).update(copy.deepcopy(state_dict))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs: ``base_lr · γ^⌊epoch/step_size⌋``.

    >>> import xpgrad as xg
    >>> opt = xg.optim.SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = xg.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for _ in range(5):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _int("StepLR", "step_size", step_size, 1)
        self.gamma = _real("StepLR", "gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs, e = self._lrs(), self.last_epoch
        if e == 0 or e % self.step_size:
            return lrs
        return [lr * self.gamma for lr in lrs]

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the lr by ``gamma`` at each milestone: ``base_lr · γ^(milestones passed)``.

    >>> import xpgrad as xg
    >>> opt = xg.optim.SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = xg.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.1)
    >>> lrs = []
    >>> for _ in range(4):
    ...     lrs.append(round(sched.get_last_lr()[0], 6)); opt.step(); sched.step()
    >>> lrs
    [1.0, 0.1, 0.1, 0.01]
    """

    def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = sorted(_int("MultiStepLR", "a milestone", m, 0) for m in milestones)
        self.gamma = _real("MultiStepLR", "gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs, n = self._lrs(), self.milestones.count(self.last_epoch)
        return [lr * self.gamma ** n for lr in lrs] if n else lrs

    def _closed_form(self) -> list[float]:
        n = bisect_right(self.milestones, self.last_epoch)
        return [base * self.gamma ** n for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch: ``base_lr · γ^epoch``.

    >>> import xpgrad as xg
    >>> opt = xg.optim.SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = xg.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    >>> sched.step(); sched.step()
    >>> sched.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = _real("ExponentialLR", "gamma", gamma, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs = self._lrs()
        return lrs if self.last_epoch == 0 else [lr * self.gamma for lr in lrs]

    def _closed_form(self) -> list[float]:
        return [base * self.gamma ** self.last_epoch for base in self.base_lrs]


class LinearLR(LRScheduler):
    """Scale the lr by a factor going linearly from ``start_factor`` to ``end_factor`` in ``total_iters``.

    The usual warm-up: ``LinearLR(opt, start_factor=0.1, total_iters=5)``;
    the factor at epoch e is ``start + (end − start)·min(e, total_iters)/total_iters``.

    >>> import xpgrad as xg
    >>> opt = xg.optim.SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = xg.optim.lr_scheduler.LinearLR(opt, start_factor=0.5, total_iters=2)
    >>> lrs = [sched.get_last_lr()[0]]
    >>> for _ in range(3):
    ...     opt.step(); sched.step(); lrs.append(sched.get_last_lr()[0])
    >>> lrs
    [0.5, 0.75, 1.0, 1.0]
    """

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        self.start_factor = _real("LinearLR", "start_factor", start_factor, 0.0, 1.0, low_open=True)
        self.end_factor = _real("LinearLR", "end_factor", end_factor, 0.0, 1.0)
        self.total_iters = _int("LinearLR", "total_iters", total_iters, 1)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs, e = self._lrs(), self.last_epoch
        s, f, n = self.start_factor, self.end_factor, self.total_iters
        if e == 0:
            return [lr * s for lr in lrs]
        if e > n:
            return lrs
        # factor(e) / factor(e−1), with factor(e) = s + (f − s)·e/n
        ratio = 1.0 + (f - s) / (n * s + (e - 1) * (f - s))
        return [lr * ratio for lr in lrs]

    def _closed_form(self) -> list[float]:
        s, f, n = self.start_factor, self.end_factor, self.total_iters
        factor = s + (f - s) * min(n, self.last_epoch) / n
        return [base * factor for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing (SGDR without restarts): ``η_min + (base_lr − η_min)(1 + cos(π·epoch/T_max))/2``.

    Past ``T_max`` the lr rises again along the same cosine, as in PyTorch.

    >>> import xpgrad as xg
    >>> opt = xg.optim.SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = xg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    >>> lrs = [sched.get_last_lr()[0]]
    >>> for _ in range(2):
    ...     opt.step(); sched.step(); lrs.append(round(sched.get_last_lr()[0], 6))
    >>> lrs
    [1.0, 0.5, 0.0]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = _int("CosineAnnealingLR", "T_max", T_max, 1)
        self.eta_min = _real("CosineAnnealingLR", "eta_min", eta_min, 0.0)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        lrs, e, T, lo = self._lrs(), self.last_epoch, self.T_max, self.eta_min
        if e == 0:
            return lrs
        if (e - 1 - T) % (2 * T) == 0:
            # leaving the bottom of the cosine: the ratio below would be 0/0, so add the step instead
            rise = (1 - math.cos(math.pi / T)) / 2
            return [lr + (base - lo) * rise for lr, base in zip(lrs, self.base_lrs)]
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return [lo + (lr - lo) * ratio for lr in lrs]

    def _closed_form(self) -> list[float]:
        c = (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * c for base in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin): warm up to ``max_lr``, then anneal far below the start.

    Step it after every batch. The lr goes from ``max_lr/div_factor`` up to
    ``max_lr`` in the first ``pct_start`` of ``total_steps`` (or
    ``epochs · steps_per_epoch``), then down to ``initial_lr/final_div_factor``
    (``three_phase``: back to the start first, then down), by cosine or linear
    annealing. With ``cycle_momentum`` the momentum (``betas[0]`` for Adam-like
    optimizers) moves the opposite way between ``max_momentum`` and ``base_momentum``.

    >>> import xpgrad as xg
    >>> opt = xg.optim.SGD([xg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    >>> sched = xg.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=5, pct_start=0.4,
    ...                                          anneal_strategy="linear")
    >>> lrs = [sched.get_last_lr()[0]]
    >>> for _ in range(4):
    ...     opt.step(); sched.step(); lrs.append(round(sched.get_last_lr()[0], 6))
    >>> lrs, opt.param_groups[0]["momentum"]
    ([0.04, 1.0, 0.666668, 0.333336, 4e-06], 0.95)
    """

    _chainable = False

    def __init__(self, optimizer: Optimizer, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        name = "OneCycleLR"
        _check_optimizer(name, optimizer)
        if total_steps is not None:
            self.total_steps = _int(name, "total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = (_int(name, "epochs", epochs, 1)
                                * _int(name, "steps_per_epoch", steps_per_epoch, 1))
        else:
            raise OpError("OneCycleLR needs total_steps, or both epochs and steps_per_epoch")
        pct = _real(name, "pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise OpError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        div = _real(name, "div_factor", div_factor, 0.0, low_open=True)
        final_div = _real(name, "final_div_factor", final_div_factor, 0.0, low_open=True)
        T = self.total_steps
        # each phase: the step it ends at, and the group keys it anneals between
        if three_phase:
            self._phases = [
                {"end_step": pct * T - 1, "lr": ["initial_lr", "max_lr"],
                 "momentum": ["max_momentum", "base_momentum"]},
                {"end_step": 2 * pct * T - 2, "lr": ["max_lr", "initial_lr"],
                 "momentum": ["base_momentum", "max_momentum"]},
                {"end_step": T - 1, "lr": ["initial_lr", "min_lr"],
                 "momentum": ["max_momentum", "max_momentum"]},
            ]
        else:
            self._phases = [
                {"end_step": pct * T - 1, "lr": ["initial_lr", "max_lr"],
                 "momentum": ["max_momentum", "base_momentum"]},
                {"end_step": T - 1, "lr": ["max_lr", "min_lr"],
                 "momentum": ["base_momentum", "max_momentum"]},
            ]
        max_lrs = _per_group(name, "max_lr", max_lr, optimizer)
        groups = optimizer.param_groups
        if last_epoch == -1:
            for group, top in zip(groups, max_lrs):
                group["initial_lr"] = top / div
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div
        self.cycle_momentum = bool(cycle_momentum)
        self.use_beta1 = False
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise OpError(f"OneCycleLR: cycle_momentum=True needs an optimizer with 'momentum' or "
                              f"'betas' ({type(optimizer).__name__} has neither); pass cycle_momentum=False")
            self.use_beta1 = "betas" in optimizer.defaults
            highs = _per_group(name, "max_momentum", max_momentum, optimizer)
            lows = _per_group(name, "base_momentum", base_momentum, optimizer)
            if last_epoch == -1:
                for group, high, low in zip(groups, highs, lows):
                    self._set_momentum(group, high)
                    group["max_momentum"] = high
                    group["base_momentum"] = low
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], m: float) -> None:
        if self.use_beta1:
            group["betas"] = (m, *tuple(group["betas"])[1:])
        else:
            group["momentum"] = m

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return start + (end - start) * pct

    def get_lr(self) -> list[float]:
        t = self.last_epoch
        if t > self.total_steps:
            raise OpError(f"OneCycleLR was stepped {t} times, past total_steps={self.total_steps}; make "
                          "total_steps (or epochs · steps_per_epoch) cover the whole run")
        start = 0.0
        for i, phase in enumerate(self._phases):
            end = phase["end_step"]
            if t <= end or i == len(self._phases) - 1:
                pct = (t - start) / (end - start) if end != start else 1.0  # a phase of no length is done
                break
            start = end
        lrs = []
        for group in self.optimizer.param_groups:
            lr0, lr1 = phase["lr"]
            lrs.append(self._anneal(group[lr0], group[lr1], pct))
            if self.cycle_momentum:
                m0, m1 = phase["momentum"]
                self._set_momentum(group, self._anneal(group[m0], group[m1], pct))
        return lrs


class ReduceLROnPlateau(LRScheduler):
    """Divide the lr by ``1/factor`` when a metric has stopped improving for ``patience`` epochs.

    ``step(metric)`` after each evaluation (a Python number, or a 0-d Tensor,
    which is read back to the host). A metric improves when it beats the best
    so far by ``threshold`` (relative or absolute, ``threshold_mode``); after a
    reduction, ``cooldown`` epochs pass before bad epochs count again; the lr
    never goes below ``min_lr``, and changes smaller than ``eps`` are skipped.

    >>> import xpgrad as xg
    >>> opt = xg.optim.SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    >>> sched = xg.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    >>> for loss in [3.0, 2.0, 2.5, 2.4, 2.2]:
    ...     sched.step(loss)
    >>> sched.get_last_lr()
    [0.5]
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | Sequence[float] = 0.0, eps: float = 1e-8) -> None:
        name = "ReduceLROnPlateau"
        _check_optimizer(name, optimizer)
        if mode not in ("min", "max"):
            raise OpError(f"ReduceLROnPlateau: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise OpError(f"ReduceLROnPlateau: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode = mode, threshold_mode
        self.factor = _real(name, "factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = _int(name, "patience", patience, 0)
        self.threshold = _real(name, "threshold", threshold, 0.0)
        self.cooldown = _int(name, "cooldown", cooldown, 0)
        self.eps = _real(name, "eps", eps, 0.0)
        per_group = isinstance(min_lr, (list, tuple))
        self.default_min_lr = None if per_group else _real(name, "min_lr", min_lr, 0.0)
        self.min_lrs = [_real(name, "min_lr", v, 0.0) for v in _per_group(name, "min_lr", min_lr, optimizer)]
        self.last_epoch = 0
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]

    def _is_better(self, a: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return a < best * (1 - th) if self.threshold_mode == "rel" else a < best - th
        return a > best * (1 + th) if self.threshold_mode == "rel" else a > best + th

    def step(self, metrics: Any) -> None:  # type: ignore[override]
        """Record this epoch's metric and reduce the lrs if it has plateaued."""
        current = float(metrics)
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce(self) -> None:
        groups = self.optimizer.param_groups
        if len(self.min_lrs) != len(groups):
            if self.default_min_lr is None:
                raise OpError(f"ReduceLROnPlateau: min_lr has {len(self.min_lrs)} values but the optimizer "
                              f"now has {len(groups)} parameter groups; set scheduler.min_lrs to one per "
                              "group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, low in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, low)
            if old - new > self.eps:
                group["lr"] = new

    @property
    def in_cooldown(self) -> bool:
        """Whether bad epochs are being ignored after a reduction."""
        return self.cooldown_counter > 0


class SequentialLR(LRScheduler):
    """Run schedulers one after another, switching at the given epochs (e.g. warm-up, then cosine).

    >>> import xpgrad as xg
    >>> from xpgrad.optim import lr_scheduler as S
    >>> opt = xg.optim.SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    >>> warm = S.LinearLR(opt, start_factor=0.25, total_iters=3)
    >>> decay = S.ExponentialLR(opt, gamma=0.5)
    >>> sched = S.SequentialLR(opt, [warm, decay], milestones=[3])
    >>> lrs = []
    >>> for _ in range(6):
    ...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
    >>> lrs
    [0.25, 0.5, 0.75, 1.0, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int],
                 last_epoch: int = -1) -> None:
        name = "SequentialLR"
        _check_optimizer(name, optimizer)
        schedulers = list(schedulers)
        if not schedulers:
            raise OpError("SequentialLR needs at least one scheduler")
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise OpError(f"SequentialLR: scheduler {i} is a {type(s).__name__}, not an LRScheduler")
            if isinstance(s, ReduceLROnPlateau):
                raise OpError(f"SequentialLR: scheduler {i} is a ReduceLROnPlateau, whose step needs a "
                              "metric; step it yourself instead")
            if s.optimizer is not optimizer:
                raise OpError(f"SequentialLR: scheduler {i} ({type(s).__name__}) schedules another optimizer")
        milestones = [_int(name, "a milestone", m, 0) for m in milestones]
        if len(milestones) != len(schedulers) - 1:
            raise OpError(f"SequentialLR: {len(schedulers)} schedulers need {len(schedulers) - 1} "
                          f"milestone(s), got {len(milestones)}")
        if any(a >= b for a, b in zip(milestones, milestones[1:])):
            raise OpError(f"SequentialLR: milestones must increase, got {milestones}")
        self.optimizer = optimizer
        self._schedulers = schedulers
        self._milestones = milestones
        self.last_epoch = _int(name, "last_epoch", last_epoch, -1) + 1
        for group in optimizer.param_groups:
            group["lr"] = group["initial_lr"]
        for s in schedulers:  # undo the first step each scheduler took when it was made
            _undo(s)
        first = schedulers[bisect_right(milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def step(self) -> None:  # type: ignore[override]
        """Advance one epoch: step the scheduler in charge (a new one starts from its epoch 0)."""
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        s = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            s._jump(0)
        else:
            s.step()
        self._last_lr = s.get_last_lr()

    def state_dict(self) -> dict[str, Any]:
        """This scheduler's attributes, with the state dicts of its schedulers under ``_schedulers``."""
        out = {k: copy.deepcopy(v) for k, v in vars(self).items() if k not in ("optimizer", "_schedulers")}
        out["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, for the same list of schedulers."""
        subs = state_dict.get("_schedulers") if isinstance(state_dict, dict) else None
        if not isinstance(subs, list) or len(subs) != len(self._schedulers):
            raise OpError(f"SequentialLR.load_state_dict: expected the states of {len(self._schedulers)} "
                          "schedulers under '_schedulers'")
        own = {k: v for k, v in state_dict.items() if k != "_schedulers"}
        keys = set(vars(self)) - {"optimizer", "_schedulers"}
        if set(own) != keys:
            raise OpError(f"SequentialLR.load_state_dict: missing keys {sorted(keys - set(own))}, unexpected "
                          f"keys {sorted(set(own) - keys)}")
        backups = [s.state_dict() for s in self._schedulers]
        try:
            for s, sd in zip(self._schedulers, subs):
                s.load_state_dict(sd)
        except Exception:
            for s, sd in zip(self._schedulers, backups):
                s.load_state_dict(sd)
            raise
        vars(self).update(copy.deepcopy(own))


def _undo(s: LRScheduler) -> None:
    if isinstance(s, SequentialLR):
        for inner in s._schedulers:
            _undo(inner)
    else:
        s.last_epoch -= 1
