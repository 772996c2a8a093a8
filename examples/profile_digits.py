"""Profile a few training steps of the digits CNN: the per-op table, the memory report and a Chrome trace.

The model, data and optimizer are those of ``examples/train_digits.py``. One
step runs first without the profiler (the dispatcher plans each new call
signature, OpenCL compiles its kernels); then ``--steps`` steps run under
``xpgrad.profiler.profile()``. The script prints the table (sorted by total
time), the saved-tensor memory of the first profiled step (what its forward
pass left for backward, per op, and what backward released) and writes the
trace for chrome://tracing or ui.perfetto.dev.

    python examples/profile_digits.py                              # cpu, 3 steps
    python examples/profile_digits.py --device opencl:0 --steps 2
    python examples/profile_digits.py --trace docs/images/profile_digits_trace.json
"""

from __future__ import annotations

import os
import sys

# One BLAS thread, as in train_digits.py (set before NumPy loads): steadier timings on a shared machine.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # train_digits.py lives next to this file

import xpgrad as xg  # noqa: E402
from train_digits import load_digits, model_for_digits  # noqa: E402
from xpgrad import optim  # noqa: E402
from xpgrad.data import DataLoader  # noqa: E402
from xpgrad.nn import functional as F  # noqa: E402


def main(argv: list[str] | None = None) -> xg.profiler.profile:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="backend device: cpu, opencl:0, cuda:0, fpga:0")
    ap.add_argument("--steps", type=int, default=3, help="training steps to profile")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", type=int, default=None, help="show at most this many rows of the table")
    ap.add_argument("--sort", default="total", choices=xg.profiler.SORT_KEYS, help="what sorts the table")
    ap.add_argument("--trace", default="build/profile/digits_trace.json",
                    help="where to write the Chrome trace")
    args = ap.parse_args(argv)
    if args.steps < 1:
        ap.error("--steps must be at least 1")

    xg.manual_seed(args.seed)
    train, _ = load_digits(args.device, args.seed)
    model = model_for_digits().to_device(args.device)
    opt = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    batches = iter(DataLoader(train, batch_size=args.batch_size, shuffle=True))

    def step(x: xg.Tensor, y: xg.Tensor, notes: dict | None = None) -> float:
        loss = F.cross_entropy(model(x), y)
        if notes is not None:
            notes["forward"] = prof.memory.snapshot("after forward")
        opt.zero_grad()
        loss.backward()
        if notes is not None:
            notes["backward"] = prof.memory.snapshot("after backward")
        opt.step()
        return float(loss)

    step(*next(batches))                     # warm-up: planning and kernel compilation happen here
    notes: dict = {}
    with xg.profiler.profile(record_shapes=True) as prof:   # shapes: in the trace, on hover
        for i in range(args.steps):
            step(*next(batches), notes if i == 0 else None)

    print(f"digits CNN on {args.device}: {args.steps} training steps of batch {args.batch_size} "
          "(forward, cross-entropy, backward, AdamW)\n")
    print(prof.table(sort_by=args.sort, row_limit=args.rows))
    print()
    print(prof.memory)
    print()
    print(notes["forward"])
    print()
    print(notes["backward"] - notes["forward"])
    os.makedirs(os.path.dirname(os.path.abspath(args.trace)), exist_ok=True)
    prof.export_chrome_trace(args.trace)
    print(f"\nChrome trace: {args.trace} ({os.path.getsize(args.trace) / 1e3:.0f} kB): open it in "
          "chrome://tracing or https://ui.perfetto.dev")
    return prof


if __name__ == "__main__":
    main()
