"""The demo script: trains, checkpoints, plots, resumes bit for bit, and runs on opencl:0."""

import importlib.util
import pathlib

import pytest

import xpgrad as xg

pytest.importorskip("sklearn", reason="the demo needs scikit-learn (pip install xpgrad[examples])")
pytest.importorskip("matplotlib", reason="the demo needs matplotlib (pip install xpgrad[examples])")
pytest.importorskip("tqdm", reason="the demo needs tqdm (pip install xpgrad[examples])")

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("train_digits", ROOT / "examples" / "train_digits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tensors(path):
    state = xg.load(path)
    out = {f"model.{k}": v.numpy().tobytes() for k, v in state["model"].items()}
    for i, s in state["optimizer"]["state"].items():
        out.update({f"opt.{i}.{k}": v.numpy().tobytes() for k, v in s.items() if isinstance(v, xg.Tensor)})
    return out, state


def test_trains_checkpoints_and_plots(demo, tmp_path, capsys):
    res = demo.main(["--epochs", "2", "--out", str(tmp_path), "--no-progress"])
    assert res["test_acc"] > 0.5                   # two epochs already learn most digits
    assert (tmp_path / "digits_curves.png").stat().st_size > 1000
    state = xg.load(tmp_path / "digits.safetensors")
    assert state["epoch"] == 2 and len(state["history"]["test_acc"]) == 2
    out = capsys.readouterr().out
    assert "epoch  2/2" in out and "held-out accuracy" in out
    with pytest.raises(SystemExit, match="resume it with --epochs 2"):   # the schedule spans 2 epochs
        demo.main(["--epochs", "3", "--out", str(tmp_path), "--resume", "--no-progress"])
    with pytest.raises(SystemExit, match="no checkpoint"):
        demo.main(["--epochs", "2", "--out", str(tmp_path / "empty"), "--resume", "--no-progress"])


def test_resume_continues_exactly(demo, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    demo.main(["--epochs", "2", "--out", str(a), "--no-progress"])
    demo.main(["--epochs", "2", "--out", str(b), "--no-progress", "--stop-after", "1"])
    demo.main(["--epochs", "2", "--out", str(b), "--no-progress", "--resume"])
    (ta, sa), (tb, sb) = _tensors(a / "digits.safetensors"), _tensors(b / "digits.safetensors")
    assert sa["epoch"] == sb["epoch"] == 2
    assert ta.keys() == tb.keys() and ta == tb
    assert sa["history"]["test_acc"] == sb["history"]["test_acc"]


def test_runs_on_opencl(demo, tmp_path):
    try:
        xg.get_backend("opencl:0")
    except xg.XpgradError as exc:
        pytest.skip(f"opencl:0 is not usable here: {exc}")
    res = demo.main(["--epochs", "1", "--device", "opencl:0", "--out", str(tmp_path), "--no-progress"])
    assert res["test_acc"] > 0.3
    state = xg.load(tmp_path / "digits.safetensors")
    assert state["epoch"] == 1


def test_the_default_run_reaches_the_accuracy_the_issue_asks_for(demo, tmp_path):
    """make demo's configuration: at least 97 % on the held-out 20 % (its time is measured, not asserted)."""
    res = demo.main(["--out", str(tmp_path), "--no-progress"])
    assert res["test_acc"] >= 0.97, res["history"]["test_acc"]


def test_mixed_precision_reaches_the_float32_accuracy(demo, tmp_path, capsys):
    """--amp (autocast, and for float16 a GradScaler) ends within 0.5 percentage points of float32 with
    the same seed. Three epochs, not the demo's fifteen, to keep the test short: every run is at 99 %
    by then (the figures for full runs are in docs/training.md)."""
    runs = {}
    for amp in (None, "float16", "bfloat16"):
        args = ["--epochs", "3", "--out", str(tmp_path / str(amp)), "--no-progress"]
        runs[amp] = demo.main(args + (["--amp", amp] if amp else []))
    base = runs[None]["test_acc"]
    assert base > 0.95
    for amp in ("float16", "bfloat16"):
        assert abs(runs[amp]["test_acc"] - base) <= 0.005, (amp, runs[amp]["test_acc"], base)
    state = xg.load(tmp_path / "float16" / "digits.safetensors")
    assert state["amp"] == "float16" and state["scaler"]["scale"] == runs["float16"]["loss_scale"]
    assert xg.load(tmp_path / "bfloat16" / "digits.safetensors")["scaler"] == {}   # bfloat16: no scaling
    assert "mixed precision float16" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="same precision"):
        demo.main(["--epochs", "3", "--out", str(tmp_path / "float16"), "--resume", "--no-progress"])
