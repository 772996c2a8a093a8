"""Train a small CNN on scikit-learn's 8×8 handwritten digits; run by ``make demo``.

The dataset ships with scikit-learn (1 797 images, no download). 80 % trains,
a held-out 20 % measures accuracy. Every epoch prints loss and accuracy, and
writes a checkpoint (model, optimizer, scheduler, random state and the
history so far) with ``xpgrad.save`` — safetensors, written atomically — and a
PNG of the training curves.

    python examples/train_digits.py                    # cpu, 15 epochs
    python examples/train_digits.py --device opencl:0
    python examples/train_digits.py --stop-after 5       # stop early, as if interrupted...
    python examples/train_digits.py --resume             # ...and continue from the checkpoint
    python examples/train_digits.py --amp float16        # mixed precision: autocast + GradScaler

A resumed run continues exactly where the saved one stopped: the same
batches, dropout masks and updates, bit for bit on the CPU (with one BLAS
thread, which this script sets unless you export ``OPENBLAS_NUM_THREADS``).

``--amp float16`` (or ``bfloat16``) trains in mixed precision: the forward
pass runs under ``xpgrad.autocast`` (convolutions and linear layers in the low
dtype, batch norm, softmax and the loss in float32), the weights and the
optimizer stay float32, and with float16 a ``GradScaler`` scales the loss so
that small gradients survive, skipping the steps whose gradients overflow.
bfloat16 has float32's range, so its scaler is disabled (the same loop runs).
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads: OpenBLAS's threaded kernels may add partial sums in a
# different order from one run to the next, which would break bit-for-bit reruns and resumes
# (and for matrices this small, one thread is also faster). Override by exporting the variable.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import xpgrad as xg  # noqa: E402
from xpgrad import nn, optim  # noqa: E402
from xpgrad.data import DataLoader, TensorDataset  # noqa: E402
from xpgrad.nn import functional as F  # noqa: E402


def model_for_digits() -> nn.Module:
    """Two 3×3 convolutions, a 2×2 max-pool and a two-layer classifier: 38 378 parameters."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),                                    # 32 × 4 × 4
        nn.Flatten(), nn.Dropout(0.25),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def load_digits(device: str, seed: int) -> tuple[TensorDataset, TensorDataset]:
    """The digits as (N, 1, 8, 8) float32 in [0, 1], split 80/20 by a seeded permutation."""
    from sklearn.datasets import load_digits as sk_digits

    digits = sk_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    order = xg.random.Generator(seed).permutation(len(labels)).numpy()
    n_test = len(labels) // 5
    test, train = order[:n_test], order[n_test:]

    def dataset(idx: np.ndarray) -> TensorDataset:
        return TensorDataset(xg.asarray(images[idx], device=device), xg.asarray(labels[idx], device=device))
    return dataset(train), dataset(test)


def precision(amp: str | None) -> contextlib.AbstractContextManager:
    """``xpgrad.autocast(amp)`` for ``"float16"`` or ``"bfloat16"``; a context doing nothing for ``None``."""
    return xg.autocast(amp) if amp else contextlib.nullcontext()


def evaluate(model: nn.Module, data: TensorDataset, batch_size: int = 512,
             amp: str | None = None) -> tuple[float, float]:
    """Mean loss and accuracy over ``data``, in eval mode and without recording a graph
    (under ``autocast(amp)`` when ``amp`` names a low-precision dtype)."""
    model.eval()
    total, correct, n = 0.0, 0, 0
    with xg.no_grad(), precision(amp):
        for x, y in DataLoader(data, batch_size=batch_size):
            logits = model(x)
            total += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int(xg.sum(xg.astype(xg.argmax(logits, axis=1) == y, xg.int64)))
            n += y.shape[0]
    model.train()
    return total / n, correct / n


def save_checkpoint(path: str, model: nn.Module, opt: optim.Optimizer, sched: object, epoch: int,
                    epochs: int, history: dict, scaler: xg.GradScaler | None = None,
                    amp: str | None = None) -> None:
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "random": xg.random.get_state(), "epoch": epoch, "epochs": epochs, "history": history}
    if amp is not None:   # a mixed-precision run: its precision and its loss scale go with it
        state["amp"] = amp
        state["scaler"] = scaler.state_dict() if scaler is not None else {}
    xg.save(state, path)


def plot(history: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, history["train_loss"], label="train")
    ax1.plot(epochs, history["test_loss"], label="test")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy")
    ax1.set_yscale("log")
    ax1.legend()
    ax2.plot(epochs, [100 * a for a in history["train_acc"]], label="train")
    ax2.plot(epochs, [100 * a for a in history["test_acc"]], label="test")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    fig.suptitle("xpgrad: CNN on the 8×8 digits")
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="backend device: cpu, opencl:0, cuda:0, fpga:0")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="build/digits", help="folder for the checkpoint and the plot")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    ap.add_argument("--stop-after", type=int, default=None, metavar="EPOCH",
                    help="stop after this epoch, as if interrupted (then try --resume)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    ap.add_argument("--amp", choices=("float16", "bfloat16"), default=None,
                    help="mixed precision: autocast to this dtype (float16 also scales the loss)")
    args = ap.parse_args(argv)

    from tqdm import tqdm

    os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "digits.safetensors")
    xg.manual_seed(args.seed)
    train, test = load_digits(args.device, args.seed)
    model = model_for_digits().to_device(args.device)
    opt = optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                          steps_per_epoch=len(loader))
    history: dict = {"train_loss": [], "test_loss": [], "train_acc": [], "test_acc": [], "seconds": []}
    # float16 needs loss scaling; a disabled scaler passes everything through, so one loop serves all
    scaler = xg.GradScaler(enabled=args.amp == "float16")
    start = 0
    if args.resume:
        if not os.path.exists(ckpt):
            sys.exit(f"--resume: no checkpoint at {ckpt}; train once without --resume first")
        state = xg.load(ckpt, device=args.device)
        if state["epochs"] != args.epochs:   # the one-cycle schedule is laid out over the whole run
            sys.exit(f"--resume: {ckpt} is a run of {state['epochs']} epochs (its learning-rate schedule "
                     f"spans them); resume it with --epochs {state['epochs']}")
        if state.get("amp") != args.amp:
            sys.exit(f"--resume: {ckpt} is a run with --amp {state.get('amp')}; resume it with the same "
                     "precision")
        if scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        xg.random.set_state(state["random"])
        history, start = state["history"], state["epoch"]
        print(f"resumed from {ckpt} after epoch {start}")

    print(f"device {args.device}: {len(train)} training and {len(test)} test images, "
          f"{sum(p.size for p in model.parameters())} parameters"
          + (f", mixed precision {args.amp}" if args.amp else ""))
    skipped = 0
    t_start = time.perf_counter()
    for epoch in range(start, args.epochs):
        t0 = time.perf_counter()
        running, seen = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1:2d}/{args.epochs}", leave=False, unit="batch",
                   disable=args.no_progress)
        for x, y in bar:
            with precision(args.amp):
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scale = scaler.get_scale()
            scaler.step(opt)              # skipped when a gradient overflowed to inf or NaN
            scaler.update()
            skipped += scaler.get_scale() < scale
            sched.step()
            running += float(loss) * y.shape[0]
            seen += y.shape[0]
            bar.set_postfix(loss=f"{running / seen:.4f}")
        test_loss, test_acc = evaluate(model, test, amp=args.amp)
        _, train_acc = evaluate(model, train, amp=args.amp)
        history["train_loss"].append(running / seen)
        history["test_loss"].append(test_loss)
        history["train_acc"].append(train_acc)
        history["test_acc"].append(test_acc)
        history["seconds"].append(time.perf_counter() - t0)
        print(f"epoch {epoch + 1:2d}/{args.epochs}  loss {running / seen:.4f}  "
              f"train {100 * train_acc:5.1f} %  test {100 * test_acc:5.1f} %  "
              f"lr {sched.get_last_lr()[0]:.2e}  {history['seconds'][-1]:.1f} s")
        save_checkpoint(ckpt, model, opt, sched, epoch + 1, args.epochs, history, scaler, args.amp)
        plot(history, os.path.join(args.out, "digits_curves.png"))
        if args.stop_after is not None and epoch + 1 >= args.stop_after:
            print(f"stopping after epoch {epoch + 1} (--stop-after); continue with --resume")
            break
    elapsed = time.perf_counter() - t_start
    final = history["test_acc"][-1] if history["test_acc"] else float("nan")
    print(f"held-out accuracy {100 * final:.2f} % after {len(history['test_acc'])} epochs; "
          f"this run took {elapsed:.1f} s on {args.device}")
    if scaler.is_enabled():
        print(f"loss scale {scaler.get_scale():g}; {skipped} step(s) skipped for inf/NaN gradients")
    print(f"checkpoint: {ckpt}\nplot:       {os.path.join(args.out, 'digits_curves.png')}")
    return {"test_acc": final, "seconds": elapsed, "history": history, "skipped_steps": skipped,
            "loss_scale": scaler.get_scale()}


if __name__ == "__main__":
    main()
