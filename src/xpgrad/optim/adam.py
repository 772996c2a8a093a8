"""Adam and AdamW (with the AMSGrad variant), as PyTorch publishes them.

With g the gradient (negated when maximizing), β₁, β₂ the betas, ε, γ the
learning rate, λ the weight decay and t the step::

    g ← g + λθ                       (Adam: L2 penalty)      θ ← θ − γλθ   (AdamW: decoupled)
    m ← β₁m + (1−β₁)g
    v ← β₂v + (1−β₂)g²
    v̄ ← max(v̄, v)   (AMSGrad, on the raw second moment), else v̄ = v
    θ ← θ − γ m̂ / (√v̂ + ε),   m̂ = m/(1−β₁ᵗ),  v̂ = v̄/(1−β₂ᵗ)
"""

from __future__ import annotations

import math
from typing import Any

from ..core.errors import OpError
from .optimizer import Optimizer, check_number, commit, zeros_like, decay_, with_grads

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam: adaptive moment estimation (Kingma & Ba), optionally AMSGrad.

    ``decoupled_weight_decay=True`` makes it :class:`AdamW`.

    >>> import xpgrad as xg
    >>> w = xg.asarray([1.0, -2.0], requires_grad=True)
    >>> opt = xg.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 6) for v in w.tolist()]
    [0.9, -1.9]
    """

    _state_keys = ("step", "exp_avg", "exp_avg_sq")
    _state_optional = ("max_exp_avg_sq",)

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, group: dict[str, Any], index: int) -> None:
        name = type(self).__name__
        for key in ("lr", "eps", "weight_decay"):
            check_number(name, index, key, group[key])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise OpError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            check_number(name, index, f"betas[{i}]", beta, 0.0, 1.0, high_open=True)

    def _update(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        lr, eps, wd = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        b1, b2 = (float(b) for b in group["betas"])
        amsgrad, decoupled = group["amsgrad"], group["decoupled_weight_decay"]
        for p, g in with_grads(name, group):
            xp = p._b.xp
            d = p.data
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["exp_avg"] = zeros_like(p)
                state["exp_avg_sq"] = zeros_like(p)
            if wd:
                if decoupled:
                    d *= 1 - lr * wd                              # θ ← θ − γλθ
                else:
                    g = g + wd * d                                # g ← g + λθ
            t = state["step"] = state["step"] + 1
            m = decay_(state["exp_avg"], b1, (1 - b1) * g)        # m ← β₁m + (1−β₁)g
            v = decay_(state["exp_avg_sq"], b2, (1 - b2) * (g * g))   # v ← β₂v + (1−β₂)g²
            if amsgrad:
                vmax = state.get("max_exp_avg_sq")
                if vmax is None:
                    vmax = state["max_exp_avg_sq"] = zeros_like(p)
                v = vmax.data = xp.maximum(vmax.data, v)          # v̄ ← max(v̄, v)
            bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
            denom = xp.sqrt(v) / math.sqrt(bc2) + eps             # √v̂ + ε
            d -= (lr / bc1) * (m / denom)                         # θ ← θ − γ m̂/(√v̂ + ε)
            commit(p, d)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): θ ← θ − γλθ before the Adam step.

    >>> import xpgrad as xg
    >>> w = xg.asarray([1.0, -2.0], requires_grad=True)
    >>> opt = xg.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 6) for v in w.tolist()]
    [0.85, -1.8]
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, decoupled_weight_decay=True)
