"""Fit a small tanh network to noisy samples of sin(x) by gradient descent.

Run by ``make demo``. It prints the loss as training goes, then checks the
gradients the tape computed against central finite differences in float64,
and shows a Hessian-vector product computed by forward-over-reverse.
"""

from __future__ import annotations

import time

import numpy as np

import xpgrad as xg


def init_params(rng: np.random.Generator, hidden: int = 16) -> dict[str, xg.Tensor]:
    return {
        "w1": xg.asarray(rng.normal(0, 1.0, (1, hidden))),
        "b1": xg.asarray(rng.normal(0, 0.5, (hidden,))),
        "w2": xg.asarray(rng.normal(0, 1.0 / np.sqrt(hidden), (hidden, 1))),
        "b2": xg.asarray(np.zeros((1,))),
    }


def predict(params: dict[str, xg.Tensor], x: xg.Tensor) -> xg.Tensor:
    h = xg.tanh(x @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


def loss_fn(params: dict[str, xg.Tensor], x: xg.Tensor, y: xg.Tensor) -> xg.Tensor:
    return xg.mean((predict(params, x) - y) ** 2)


def main() -> None:
    rng = np.random.default_rng(0)
    x_np = rng.uniform(-3, 3, (256, 1))
    y_np = np.sin(x_np) + rng.normal(0, 0.05, x_np.shape)
    x, y = xg.asarray(x_np), xg.asarray(y_np)
    params = init_params(rng)
    loss_and_grad = xg.value_and_grad(loss_fn)

    print("Fitting y = sin(x) + noise with a 1-16-1 tanh network (full-batch gradient descent)")
    t0 = time.perf_counter()
    lr = 0.1
    for step in range(1, 1501):
        loss, grads = loss_and_grad(params, x, y)
        params = {k: xg.asarray(params[k] - lr * grads[k]) for k in params}
        if step == 1 or step % 250 == 0:
            print(f"  step {step:5d}   loss {float(loss):.5f}")
    print(f"  trained in {time.perf_counter() - t0:.2f} s; final loss {float(loss_fn(params, x, y)):.5f}"
          f" (noise variance is {0.05 ** 2:.5f})")

    # Check the tape against central finite differences, entry by entry.
    print("\nGradient check against central finite differences (float64, eps = 1e-6):")
    grads = xg.grad(loss_fn)(params, x, y)
    eps = 1e-6
    worst = 0.0
    print(f"  {'parameter':<10}{'tape':>16}{'finite diff.':>16}{'rel. error':>12}")
    for name in params:
        flat = params[name].numpy().reshape(-1)
        for i in rng.choice(flat.size, size=min(2, flat.size), replace=False):
            def at(delta: float) -> float:
                p = {k: v for k, v in params.items()}
                v = flat.copy()
                v[i] += delta
                p[name] = xg.asarray(v.reshape(params[name].shape))
                return float(loss_fn(p, x, y))
            fd = (at(eps) - at(-eps)) / (2 * eps)
            tape = float(grads[name].numpy().reshape(-1)[i])
            rel = abs(tape - fd) / max(abs(fd), 1e-8)
            worst = max(worst, rel)
            print(f"  {name + f'[{i}]':<10}{tape:>16.8f}{fd:>16.8f}{rel:>12.2e}")
    print(f"  worst relative error {worst:.2e} -> {'OK' if worst < 1e-5 else 'MISMATCH'}")

    # Second order: Hessian-vector product of the loss in w2, by forward-over-reverse.
    v = xg.asarray(np.ones((16, 1)) / 4.0)

    def loss_w2(w2: xg.Tensor) -> xg.Tensor:
        return loss_fn({**params, "w2": w2}, x, y)
    _, hv = xg.hvp(loss_w2, (params["w2"],), (v,))
    h = xg.hessian(loss_w2)(params["w2"]).numpy().reshape(16, 16)
    err = np.max(np.abs(hv.numpy().reshape(-1) - h @ v.numpy().reshape(-1)))
    print(f"\nHessian-vector product (forward-over-reverse) vs full Hessian times v: max diff {err:.1e}")
    if worst >= 1e-5 or err >= 1e-9:
        raise SystemExit("gradient check failed")


if __name__ == "__main__":
    main()
