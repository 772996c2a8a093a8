"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay.

The update follows PyTorch's published algorithm (``torch.optim.SGD``), with
g the gradient (negated when maximizing), λ the weight decay, μ the
momentum, τ the dampening and γ the learning rate::

    g ← g + λθ
    b ← g  (first step),  b ← μb + (1−τ)g  (later steps)
    g ← g + μb  (Nesterov)  or  g ← b
    θ ← θ − γg
"""

from __future__ import annotations

from typing import Any

from ..core.errors import OpError
from ..core.tensor import Tensor
from .optimizer import Optimizer, check_number, commit, decay_, with_grads

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    >>> import xpgrad as xg
    >>> w = xg.asarray([1.0, -2.0], requires_grad=True)
    >>> opt = xg.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad()
    ...     (w * w).sum().backward()
    ...     opt.step()
    >>> [round(v, 4) for v in w.tolist()]
    [0.46, -0.92]
    """

    _state_optional = ("momentum_buffer",)

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize))

    def _check_group(self, group: dict[str, Any], index: int) -> None:
        for key in ("lr", "momentum", "weight_decay"):
            check_number("SGD", index, key, group[key])
        check_number("SGD", index, "dampening", group["dampening"], high=1.0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise OpError(f"SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got "
                          f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, group: dict[str, Any]) -> None:
        lr, mu, tau = float(group["lr"]), float(group["momentum"]), float(group["dampening"])
        wd, nesterov = float(group["weight_decay"]), group["nesterov"]
        for p, g in with_grads("SGD", group):
            d = p.data
            if wd:
                g = g + wd * d                                   # g ← g + λθ
            if mu:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = Tensor._make(p._b.copy(g), p._b)   # b ← g
                else:
                    decay_(buf, mu, (1 - tau) * g)               # b ← μb + (1−τ)g
                g = g + mu * buf.data if nesterov else buf.data
            d -= lr * g                                          # θ ← θ − γg
            commit(p, d)
