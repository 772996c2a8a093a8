"""Adagrad, as PyTorch publishes it.

With g the gradient (negated when maximizing), γ the learning rate, η the
learning-rate decay, λ the weight decay and t the step::

    γ̃ ← γ / (1 + (t−1)η)
    g ← g + λθ
    s ← s + g²                 (s starts at initial_accumulator_value)
    θ ← θ − γ̃ g / (√s + ε)
"""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, check_number, commit, zeros_like, with_grads

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad: per-coordinate step sizes from the sum of squared gradients (Duchi et al.).

    >>> import xpgrad as xg
    >>> w = xg.asarray([1.0, -2.0], requires_grad=True)
    >>> opt = xg.optim.Adagrad([w], lr=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 6) for v in w.tolist()]
    [0.5, -1.5]
    """

    _state_keys = ("step", "sum")
    _state_optional = ()

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _check_group(self, group: dict[str, Any], index: int) -> None:
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_number("Adagrad", index, key, group[key])

    def _update(self, group: dict[str, Any]) -> None:
        lr, decay, wd = float(group["lr"]), float(group["lr_decay"]), float(group["weight_decay"])
        eps = float(group["eps"])
        for p, g in with_grads("Adagrad", group):
            xp = p._b.xp
            d = p.data
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["sum"] = zeros_like(p, float(group["initial_accumulator_value"]))
            t = state["step"] = state["step"] + 1
            clr = lr / (1 + (t - 1) * decay)                      # γ̃ ← γ/(1 + (t−1)η)
            if wd:
                g = g + wd * d                                    # g ← g + λθ
            s = state["sum"].data
            s += g * g                                            # s ← s + g²
            state["sum"].data = s
            d -= clr * (g / (xp.sqrt(s) + eps))                   # θ ← θ − γ̃ g/(√s + ε)
            commit(p, d)
