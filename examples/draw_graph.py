"""Draw the graph of one training step of a small MLP, plain and as a gradient-flow picture.

    python examples/draw_graph.py                  # writes docs/images/mlp_graph.svg and mlp_graph_grads.svg
    python examples/draw_graph.py --out /tmp/pics --format png
    python examples/draw_graph.py --device opencl:0

The network is four Linear layers with sigmoid activations between them, a
classic way to make gradients vanish: each sigmoid multiplies the backward
signal by at most 1/4, so the gradient-flow picture darkens layer by layer
from the loss towards the first weights. Without Graphviz's ``dot`` program
the script writes the DOT text (``.dot`` files) instead and says so.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys

import xpgrad as xg
from xpgrad import nn
from xpgrad.nn import functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]


def model(seed: int = 0) -> nn.Module:
    """8 → 16 → 16 → 16 → 3, sigmoid between the layers."""
    xg.random.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.Sigmoid(), nn.Linear(16, 16), nn.Sigmoid(),
                         nn.Linear(16, 16), nn.Sigmoid(), nn.Linear(16, 3))


def batch(device: str, seed: int = 0, size: int = 32) -> tuple[xg.Tensor, xg.Tensor]:
    """A seeded random batch: inputs (size, 8) and class labels in 0..2."""
    gen = xg.random.Generator(seed)
    return (gen.normal((size, 8), dtype=xg.float32, device=device),
            gen.randint(0, 3, (size,), device=device))


def main(argv: list[str] | None = None) -> dict[str, pathlib.Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "images"), help="directory for the pictures")
    p.add_argument("--format", default="svg", choices=["svg", "png", "pdf", "dot"])
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    fmt = args.format
    if fmt != "dot" and shutil.which("dot") is None:
        print("Graphviz's dot program is not installed: writing the DOT text instead "
              "(apt install graphviz / brew install graphviz / conda install graphviz)", file=sys.stderr)
        fmt = "dot"
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    net = model().to(device=args.device)
    x, labels = batch(args.device)
    loss = F.cross_entropy(net(x), labels)            # the graph of this loss is what gets drawn
    names = {**dict(net.named_parameters()), "x": x, "labels": labels}
    plain = xg.viz.graph(loss, params=names)
    flow = xg.viz.graph(loss, params=names, grad_norms=True)
    written = {"graph": plain.render(out / f"mlp_graph.{fmt}", format=fmt),
               "grads": flow.render(out / f"mlp_graph_grads.{fmt}", format=fmt)}
    print(f"{plain!r}\n  -> {written['graph']}\n  -> {written['grads']} (gradient flow)")
    for n in flow.nodes:
        if n.kind == "leaf":
            print(f"  {n.name:<10} gradient norm {n.grad_norms[0]:.3e}")
    return written


if __name__ == "__main__":
    main()
