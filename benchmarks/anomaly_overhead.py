"""What ``xpgrad.detect_anomaly()`` costs: one training step of the digits demo's CNN with and without it.

The step is the demo's (``examples/train_digits.py``: two convolutions with
batch norm, max-pool, dropout, two linear layers; cross-entropy; SGD with
momentum), batch 32, float32, single-threaded BLAS, on random 8×8 inputs (the
cost does not depend on the data). Both variants run in the same process,
timed round-robin (``_timing.compare``); the ratio of their medians is the
overhead. Detection costs one reduction and one host read per op output, and
a walk of the Python stack per recorded op; outside the block it costs nothing.

The script first checks that a step with detection computes bit for bit the
same parameters as one without (detection only reads).

    python benchmarks/anomaly_overhead.py [--device cpu] [--repeats 25] [--number 10]
"""

from __future__ import annotations

import _timing  # noqa: F401  (sets single-threaded BLAS before NumPy loads)
import argparse
import importlib.util
import pathlib

import numpy as np

import xpgrad as xg
from _timing import compare
from xpgrad import optim
from xpgrad.nn import functional as F

ROOT = pathlib.Path(__file__).resolve().parents[1]


def demo_model() -> xg.nn.Module:
    spec = importlib.util.spec_from_file_location("train_digits", ROOT / "examples" / "train_digits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.model_for_digits()


def make_step(device: str, anomaly: bool, batch: int):
    """A closure running one step; the model, optimizer and data are its own."""
    xg.manual_seed(0)
    model = demo_model().to(device=device)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = xg.asarray(rng.random((batch, 1, 8, 8)).astype(np.float32), device=device)
    y = xg.asarray(rng.integers(0, 10, batch), device=device)
    sync = getattr(xg.get_backend(device), "synchronize", lambda: None)

    def step() -> None:
        with xg.set_detect_anomaly(anomaly):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        sync()
    return step, model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=25, help="timed rounds (median reported)")
    ap.add_argument("--number", type=int, default=10, help="steps per round")
    args = ap.parse_args()

    plain, m_plain = make_step(args.device, False, args.batch)
    checked, m_checked = make_step(args.device, True, args.batch)
    xg.manual_seed(1)
    plain()
    xg.manual_seed(1)           # the same dropout masks in both
    checked()
    for a, b in zip(m_plain.parameters(), m_checked.parameters()):
        assert np.array_equal(a.numpy(), b.numpy()), "a step with detection computed different numbers"

    t = compare({"plain": plain, "detect_anomaly": checked}, number=args.number, repeats=args.repeats,
                warmup=2)
    print(f"digits CNN, batch {args.batch}, float32, one SGD step on {args.device}, single-threaded BLAS "
          f"(median of {args.repeats} rounds of {args.number} steps)")
    for name, v in t.items():
        print(f"  {name:16s} {v * 1e3:8.3f} ms")
    print(f"detect_anomaly / plain = {t['detect_anomaly'] / t['plain']:.2f}")


if __name__ == "__main__":
    main()
