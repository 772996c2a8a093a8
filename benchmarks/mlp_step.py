"""One training step of an MLP 784-512-512-10 against hand-written NumPy, in the same process.

The step is forward, cross-entropy with integer labels, backward and a plain
SGD update, batch 128, float32, single-threaded BLAS. xpgrad runs it the way a
user writes it (``nn.Sequential`` of ``Linear``/``ReLU``, ``F.cross_entropy``,
``optim.SGD``); the baseline is the same maths written out by hand in NumPy
(forward, the closed-form backward, ``W -= lr * gW``). Both start from the same
weights, and the script first checks that one step of each gives the same
weights. Issue #6's target: xpgrad ≤ 1.10 × NumPy.

If PyTorch is importable, its step (``torch.set_num_threads(1)``) is timed in
the same rounds and reported too; it is not a dependency.

    python benchmarks/mlp_step.py [--repeats 25]
"""

from __future__ import annotations

import _timing  # noqa: F401  (sets single-threaded BLAS before NumPy loads)
import argparse

import numpy as np

import xpgrad as xg
from _timing import compare
from xpgrad import nn, optim
from xpgrad.nn import functional as F

N, D, H, C = 128, 784, 512, 10
LR = 0.01


def numpy_step_fn(weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray, y: np.ndarray):
    """Forward, backward and SGD for the MLP, written by hand; updates the arrays in place."""
    (w1, w2, w3), (b1, b2, b3) = weights, biases
    rows = np.arange(x.shape[0])
    lr = np.float32(LR)

    def step() -> float:
        h1 = x @ w1.T + b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ w2.T + b2
        a2 = np.maximum(h2, 0)
        z = a2 @ w3.T + b3
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.log(s).mean() - z[rows, y].mean())
        d = e / s                                   # softmax − one-hot, over the batch
        d[rows, y] -= 1
        d /= x.shape[0]
        g_w3, g_b3 = d.T @ a2, d.sum(axis=0)
        d2 = (d @ w3) * (h2 > 0)
        g_w2, g_b2 = d2.T @ a1, d2.sum(axis=0)
        d1 = (d2 @ w2) * (h1 > 0)
        g_w1, g_b1 = d1.T @ x, d1.sum(axis=0)
        for p, g in zip((w1, w2, w3, b1, b2, b3), (g_w1, g_w2, g_w3, g_b1, g_b2, g_b3)):
            p -= lr * g
        return loss
    return step


def xpgrad_step_fn(model: nn.Module, x: xg.Tensor, y: xg.Tensor):
    opt = optim.SGD(model.parameters(), lr=LR)

    def step() -> xg.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def torch_step_fn(weights, biases, x, y):
    try:
        import torch
    except ImportError:
        return None, None
    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, H),
                                torch.nn.ReLU(), torch.nn.Linear(H, C))
    with torch.no_grad():
        for lin, w, b in zip((model[0], model[2], model[4]), weights, biases):
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> object:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(tx), ty)
        loss.backward()
        opt.step()
        return loss
    return step, torch.__version__


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=25, help="timed rounds (median reported)")
    ap.add_argument("--number", type=int, default=10, help="steps per round")
    args = ap.parse_args()

    xg.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, H), nn.ReLU(), nn.Linear(H, C))
    linears = [m for m in model if isinstance(m, nn.Linear)]
    weights = [m.weight.numpy().copy() for m in linears]
    biases = [m.bias.numpy().copy() for m in linears]
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((N, D)).astype(np.float32)
    y_np = rng.integers(0, C, N)
    x, y = xg.asarray(x_np), xg.asarray(y_np)

    numpy_step = numpy_step_fn(weights, biases, x_np, y_np)
    xpgrad_step = xpgrad_step_fn(model, x, y)
    loss_np, loss_xg = numpy_step(), float(xpgrad_step())
    assert abs(loss_np - loss_xg) < 1e-5, (loss_np, loss_xg)
    for m, w, b in zip(linears, weights, biases):
        assert np.allclose(m.weight.numpy(), w, atol=1e-5) and np.allclose(m.bias.numpy(), b, atol=1e-5), \
            "xpgrad's step and the hand-written one disagree"
    assert model[0].weight.dtype == xg.float32 and model[0].weight.grad.dtype == xg.float32

    fns = {"numpy (hand-written)": numpy_step, "xpgrad": xpgrad_step}
    torch_step, torch_version = torch_step_fn(weights, biases, x_np, y_np)
    if torch_step is not None:
        fns[f"torch {torch_version}"] = torch_step
    t = compare(fns, number=args.number, repeats=args.repeats, warmup=2)
    base = t["numpy (hand-written)"]
    print(f"MLP {D}-{H}-{H}-{C}, batch {N}, float32, one SGD step, single-threaded BLAS "
          f"(median of {args.repeats} rounds of {args.number} steps)")
    for name, v in t.items():
        print(f"  {name:22s} {v * 1e3:7.3f} ms   {v / base:5.3f} × NumPy")
    ratio = t["xpgrad"] / base
    print(f"xpgrad / NumPy = {ratio:.3f} (target ≤ 1.10)")


if __name__ == "__main__":
    main()
