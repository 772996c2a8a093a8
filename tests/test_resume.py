"""A checkpoint of model + optimizer + scheduler + random state resumes training bitwise identically."""

import numpy as np

import xpgrad as xg
from xpgrad import nn, optim
from xpgrad.data import DataLoader, TensorDataset
from xpgrad.nn import functional as F


def _setup():
    xg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = optim.AdamW(model.parameters(), lr=1e-2, amsgrad=True)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=40)
    g = xg.random.Generator(1)
    data = TensorDataset(g.normal((40, 6)), g.randint(0, 3, (40,)))
    return model, opt, sched, DataLoader(data, batch_size=8, shuffle=True)


def _train(model, opt, sched, loader, epochs):
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            sched.step()


def _state(model, opt):
    return [v.numpy().tobytes() for v in model.state_dict().values()] + \
        [v.numpy().tobytes() for s in opt.state_dict()["state"].values() for v in s.values()
         if isinstance(v, xg.Tensor)]


def test_resume_is_bitwise_identical(tmp_path):
    model, opt, sched, loader = _setup()
    _train(model, opt, sched, loader, 4)
    straight = _state(model, opt)

    model, opt, sched, loader = _setup()
    _train(model, opt, sched, loader, 2)
    path = tmp_path / "ckpt.safetensors"
    xg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "random": xg.random.get_state(), "epoch": 2}, path)
    _train(model, opt, sched, loader, 1)        # the first run goes on; the checkpoint must not change

    model, opt, sched, loader = _setup()         # a new process would start from scratch like this
    xg.random.normal((5,))                       # ...and draw other numbers before loading
    state = xg.load(path)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    xg.random.set_state(state["random"])
    assert state["epoch"] == 2
    _train(model, opt, sched, loader, 2)
    resumed = _state(model, opt)
    assert len(resumed) == len(straight) > 10
    assert resumed == straight
    assert np.isfinite(model[0].weight.numpy()).all()
