"""RMSprop, plain or centered, with momentum, as PyTorch publishes it.

With g the gradient (negated when maximizing), α the smoothing constant,
γ the learning rate, λ the weight decay and μ the momentum::

    g ← g + λθ
    v ← αv + (1−α)g²
    ṽ ← v − ḡ²  with  ḡ ← αḡ + (1−α)g   (centered),  else ṽ = v
    b ← μb + g/(√ṽ + ε);  θ ← θ − γb      (μ > 0)
    θ ← θ − γ g/(√ṽ + ε)                  (μ = 0)
"""

from __future__ import annotations

from typing import Any

from .optimizer import Optimizer, check_number, commit, zeros_like, decay_, with_grads

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton): divide the gradient by a running root mean square of its recent values.

    >>> import xpgrad as xg
    >>> w = xg.asarray([1.0, -2.0], requires_grad=True)
    >>> opt = xg.optim.RMSprop([w], lr=0.01, alpha=0.75)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 6) for v in w.tolist()]
    [0.98, -1.98]
    """

    _state_keys = ("step", "square_avg")
    _state_optional = ("momentum_buffer", "grad_avg")

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _check_group(self, group: dict[str, Any], index: int) -> None:
        for key in ("lr", "eps", "weight_decay", "momentum"):
            check_number("RMSprop", index, key, group[key])
        check_number("RMSprop", index, "alpha", group["alpha"], high=1.0)

    def _update(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
        wd, mu = float(group["weight_decay"]), float(group["momentum"])
        centered = group["centered"]
        for p, g in with_grads("RMSprop", group):
            xp = p._b.xp
            d = p.data
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["square_avg"] = zeros_like(p)
            state["step"] += 1
            if wd:
                g = g + wd * d                                    # g ← g + λθ
            v = decay_(state["square_avg"], alpha, (1 - alpha) * (g * g))   # v ← αv + (1−α)g²
            if centered:
                ga = state.get("grad_avg")
                if ga is None:
                    ga = state["grad_avg"] = zeros_like(p)
                a = decay_(ga, alpha, (1 - alpha) * g)            # ḡ ← αḡ + (1−α)g
                avg = xp.sqrt(v - a * a) + eps                    # √(v − ḡ²) + ε
            else:
                avg = xp.sqrt(v) + eps                            # √v + ε
            if mu > 0:
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = zeros_like(p)
                b = decay_(buf, mu, g / avg)                      # b ← μb + g/(√ṽ + ε)
                d -= lr * b                                       # θ ← θ − γb
            else:
                d -= lr * (g / avg)                               # θ ← θ − γ g/(√ṽ + ε)
            commit(p, d)
