"""Learning-rate schedulers: closed forms over every phase, PyTorch's numbers, state dicts, errors."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpgrad as xg
from xpgrad.optim import SGD, Adagrad, Adam
from xpgrad.optim import lr_scheduler as S

REL = 1e-12  # chained updates against closed forms: rounding only (the task asks 1e-6)


def record(make, steps, metric=None, opt_cls=SGD, opt_kw=None, groups=False):
    """lrs (and momenta) seen by each optimizer step, with the scheduler stepped after it."""
    p = xg.zeros(1, requires_grad=True)
    q = xg.zeros(1, requires_grad=True)
    params = [{"params": [p]}, {"params": [q], "lr": 0.5}] if groups else [p]
    opt = opt_cls(params, **(opt_kw if opt_kw is not None else dict(lr=0.1, momentum=0.9)))
    sched = make(opt)
    lrs, moms = [], []
    for i in range(steps):
        assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        lrs.append([g["lr"] for g in opt.param_groups])
        moms.append([g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups])
        opt.step()
        sched.step(metric[i]) if metric is not None else sched.step()
    if not groups:
        return [r[0] for r in lrs], [m[0] for m in moms]
    return [tuple(r) for r in lrs], [tuple(m) for m in moms]


def close(got, want, rel=REL):
    assert len(got) == len(want)
    np.testing.assert_allclose(np.array(got, dtype=float), np.array(want, dtype=float), rtol=rel, atol=1e-15)


# ---------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------

def test_step_lr():
    got, _ = record(lambda o: S.StepLR(o, step_size=3, gamma=0.5), 12)
    close(got, [0.1 * 0.5 ** (e // 3) for e in range(12)])


def test_multistep_lr_with_a_repeated_milestone():
    got, _ = record(lambda o: S.MultiStepLR(o, milestones=[5, 2, 5], gamma=0.1), 8)
    close(got, [0.1 * 0.1 ** sum(m <= e for m in (2, 5, 5)) for e in range(8)])


def test_exponential_lr():
    got, _ = record(lambda o: S.ExponentialLR(o, gamma=0.9), 10)
    close(got, [0.1 * 0.9 ** e for e in range(10)])


@pytest.mark.parametrize("start, end, n", [(0.1, 1.0, 4), (1.0, 0.25, 5), (0.5, 0.5, 3)])
def test_linear_lr_warm_up_and_decay(start, end, n):
    got, _ = record(lambda o: S.LinearLR(o, start_factor=start, end_factor=end, total_iters=n), n + 4)
    close(got, [0.1 * (start + (end - start) * min(e, n) / n) for e in range(n + 4)])


@pytest.mark.parametrize("eta_min", [0.0, 0.02])
def test_cosine_annealing_over_three_half_periods(eta_min):
    T = 4
    got, _ = record(lambda o: S.CosineAnnealingLR(o, T_max=T, eta_min=eta_min), 3 * T + 1)
    close(got, [eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(3 * T + 1)])


def onecycle_ref(t, total, max_lr, pct=0.3, div=25.0, final_div=1e4, strategy="cos", three_phase=False,
                 mom=(0.85, 0.95)):
    """The 1cycle schedule at step t, written from its definition: (lr, momentum)."""
    lo, hi = mom
    init = max_lr / div
    floor = init / final_div

    def ann(a, b, x):
        return b + (a - b) * (1 + math.cos(math.pi * x)) / 2 if strategy == "cos" else a + (b - a) * x

    up = pct * total - 1
    if three_phase:
        down = 2 * pct * total - 2
        if t <= up:
            return ann(init, max_lr, t / up), ann(hi, lo, t / up)
        if t <= down:
            x = (t - up) / (down - up)
            return ann(max_lr, init, x), ann(lo, hi, x)
        x = (t - down) / (total - 1 - down)
        return ann(init, floor, x), hi
    if t <= up:
        return ann(init, max_lr, t / up), ann(hi, lo, t / up)
    x = (t - up) / (total - 1 - up)
    return ann(max_lr, floor, x), ann(lo, hi, x)


@pytest.mark.parametrize("strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_against_its_definition(strategy, three_phase):
    total = 25
    got, mom = record(lambda o: S.OneCycleLR(o, max_lr=2.0, total_steps=total, anneal_strategy=strategy,
                                             three_phase=three_phase, pct_start=0.4), total)
    want = [onecycle_ref(t, total, 2.0, pct=0.4, strategy=strategy, three_phase=three_phase)
            for t in range(total)]
    close(got, [w[0] for w in want])
    close(mom, [w[1] for w in want])
    assert got[0] == pytest.approx(2.0 / 25) and max(got) == pytest.approx(2.0)
    assert got[-1] == pytest.approx(2.0 / 25 / 1e4)


def test_one_cycle_epochs_times_steps_and_adam_betas():
    got, mom = record(lambda o: S.OneCycleLR(o, max_lr=0.01, epochs=3, steps_per_epoch=4, div_factor=10.0,
                                             base_momentum=0.8, max_momentum=0.9),
                      12, opt_cls=Adam, opt_kw=dict(lr=1.0, betas=(0.5, 0.99)))
    want = [onecycle_ref(t, 12, 0.01, div=10.0, mom=(0.8, 0.9)) for t in range(12)]
    close(got, [w[0] for w in want])
    close(mom, [w[1] for w in want])


def test_one_cycle_refuses_to_run_past_its_end():
    opt = SGD([xg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    s = S.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        s.step()
    with pytest.raises(xg.OpError, match="past total_steps=3"):
        s.step()


def test_one_cycle_with_a_warm_up_of_no_length():
    # pct_start·total_steps = 1: the warm-up phase ends at step 0 (PyTorch divides 0 by 0 here)
    got, _ = record(lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.1), 10)
    assert got[0] == 1.0 and got[-1] == pytest.approx(1.0 / 25 / 1e4)
    assert all(a > b for a, b in zip(got, got[1:]))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.floats(0.05, 1.0), st.lists(st.integers(0, 12), max_size=4),
       st.floats(0.05, 1.0), st.integers(1, 6), st.floats(0.0, 0.05))
def test_chained_updates_follow_the_closed_forms(step_size, gamma, milestones, start, T, eta_min):
    n = 14
    cases = [
        (lambda o: S.StepLR(o, step_size, gamma), lambda e: 0.1 * gamma ** (e // step_size)),
        (lambda o: S.MultiStepLR(o, milestones, gamma),
         lambda e: 0.1 * gamma ** sum(m <= e for m in milestones)),
        (lambda o: S.LinearLR(o, start_factor=start, total_iters=T),
         lambda e: 0.1 * (start + (1 - start) * min(e, T) / T)),
        (lambda o: S.CosineAnnealingLR(o, T_max=T, eta_min=eta_min),
         lambda e: eta_min + (0.1 - eta_min) * (1 + math.cos(math.pi * e / T)) / 2),
    ]
    for make, closed in cases:
        got, _ = record(make, n)
        close(got, [closed(e) for e in range(n)], rel=1e-9)


def test_step_with_an_epoch_jumps_with_the_closed_form():
    opt = SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    s = S.StepLR(opt, step_size=2, gamma=0.5)
    s.step(7)
    assert s.last_epoch == 7 and opt.param_groups[0]["lr"] == 0.125
    c = S.CosineAnnealingLR(SGD([xg.zeros(1, requires_grad=True)], lr=1.0), T_max=10)
    c.step(5)
    assert c.get_last_lr() == [pytest.approx(0.5)]


def test_chained_schedulers_multiply_and_carry_a_manual_change():
    opt = SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    s = S.ExponentialLR(opt, gamma=0.5)
    opt.param_groups[0]["lr"] = 10.0
    s.step()
    assert opt.param_groups[0]["lr"] == 5.0


def test_two_groups_keep_their_own_base_lrs():
    got, _ = record(lambda o: S.CosineAnnealingLR(o, T_max=3), 4, groups=True)
    close([g[1] for g in got], [0.5 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(4)])


# ---------------------------------------------------------------------------
# ReduceLROnPlateau and SequentialLR
# ---------------------------------------------------------------------------

def test_reduce_on_plateau_min_rel():
    # patience 1: a reduction after the second bad epoch in a row; cooldown 1 ignores the next epoch;
    # threshold 1 % relative: 0.895 and 0.894 do not improve on 0.9 enough; min_lr floors at 0.02
    metric = [1.0, 0.9, 0.895, 0.894, 0.8, 0.81, 0.82, 0.83, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    got, _ = record(lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=1, cooldown=1, threshold=0.01,
                                                  min_lr=0.02), 14, metric=metric)
    assert got == TORCH_LR["plateau"]


def test_reduce_on_plateau_max_abs_per_group_min_lr():
    opt = SGD([{"params": [xg.zeros(1, requires_grad=True)]},
               {"params": [xg.zeros(1, requires_grad=True)], "lr": 1.0}], lr=0.1)
    s = S.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.5, threshold_mode="abs",
                            min_lr=[0.0, 0.5])
    s.step(1.0)    # improves on -inf
    assert s.get_last_lr() == [0.1, 1.0]
    s.step(1.4)    # +0.4 < threshold 0.5: a bad epoch, patience 0: reduce
    assert s.get_last_lr() == [pytest.approx(0.01), 0.5] and s.num_bad_epochs == 0
    s.step(2.0)    # improves by 1.0
    assert s.best == 2.0
    s.step(xg.asarray(1.0))  # a 0-d tensor works as a metric
    assert s.get_last_lr() == [pytest.approx(0.001), 0.5]  # 0.5 is already at its floor


def test_reduce_on_plateau_skips_changes_below_eps():
    opt = SGD([xg.zeros(1, requires_grad=True)], lr=1e-9)
    s = S.ReduceLROnPlateau(opt, patience=0, eps=1e-8)
    s.step(1.0)
    s.step(2.0)
    assert opt.param_groups[0]["lr"] == 1e-9


def test_sequential_warm_up_then_cosine_against_closed_forms():
    base, warm, T, eta = 0.1, 4, 6, 0.001
    got, _ = record(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=warm),
                                                 S.CosineAnnealingLR(o, T_max=T, eta_min=eta)],
                                             milestones=[warm]), 14)
    want = [base * (0.1 + 0.9 * e / warm) if e < warm
            else eta + (base - eta) * (1 + math.cos(math.pi * (e - warm) / T)) / 2 for e in range(14)]
    close(got, want)


def test_sequential_three_schedulers():
    got, _ = record(lambda o: S.SequentialLR(o, [S.ExponentialLR(o, gamma=0.5), S.StepLR(o, 2, gamma=0.1),
                                                 S.ExponentialLR(o, gamma=2.0)], milestones=[2, 5]), 8)
    close(got, [0.1, 0.05, 0.1, 0.1, 0.01, 0.1, 0.2, 0.4])


# ---------------------------------------------------------------------------
# PyTorch's numbers
# ---------------------------------------------------------------------------

# Printed by PyTorch 2.13.0+cpu (torch.optim.lr_scheduler) with the same optimizers and scripts.
TORCH_LR = {
    "onecycle_cos": [
        0.040000000000000036, 0.1316718427000253, 0.3716718427000253, 0.6683281572999747,
        0.9083281572999747, 1.0, 0.9874640062350873, 0.9504846320134737, 0.89091617757105,
        0.8117456539497631, 0.7169430017913008, 0.6112620219362893, 0.500002, 0.38874197806371075,
        0.28306099820869923, 0.18825834605023697, 0.10908782242895004, 0.049519367986526286,
        0.012539993764912554, 4e-06
    ],
    "onecycle_linear_three_phase_adam": [
        (0.02, 0.08), (0.08, 0.32), (0.14, 0.56), (0.2, 0.8), (0.14, 0.56), (0.08, 0.32),
        (0.01999999999999999, 0.07999999999999996), (0.0178, 0.0712), (0.0156, 0.0624), (0.0134, 0.0536),
        (0.0112, 0.0448), (0.009, 0.036), (0.0068000000000000005, 0.027200000000000002),
        (0.004599999999999998, 0.018399999999999993), (0.0023999999999999994, 0.009599999999999997),
        (0.0001999999999999988, 0.0007999999999999952)
    ],
    "cosine_past_tmax": [
        0.1, 0.09140576474687263, 0.06890576474687263, 0.04109423525312736, 0.018594235253127367, 0.01,
        0.018594235253127367, 0.04109423525312739, 0.06890576474687267, 0.09140576474687269,
        0.10000000000000006, 0.09140576474687272, 0.06890576474687268, 0.0410942352531274,
        0.01859423525312738, 0.01
    ],
    "warmup_cosine": [
        0.010000000000000002, 0.03250000000000001, 0.055000000000000014, 0.07750000000000003, 0.1,
        0.09336825748732973, 0.07525000000000001, 0.0505, 0.025750000000000012, 0.007631742512670284, 0.001,
        0.007631742512670284, 0.025750000000000002, 0.05050000000000004
    ],
    "plateau": [
        0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.02, 0.02, 0.02
    ],
    "chained_exp_multistep": [
        1.0, 0.9, 0.405, 0.36450000000000005, 0.08201250000000002, 0.07381125000000002, 0.06643012500000002
    ],
}
TORCH_MOMENTUM = {
    "onecycle_cos": [
        0.95, 0.9404508497187474, 0.9154508497187474, 0.8845491502812526, 0.8595491502812526, 0.85,
        0.8512536043909088, 0.854951556604879, 0.8609084258765984, 0.8688255099070633, 0.878305813044122,
        0.8888739533021842, 0.8999999999999999, 0.9111260466978157, 0.9216941869558779, 0.9311744900929366,
        0.9390915741234015, 0.945048443395121, 0.9487463956090911, 0.95
    ],
    "onecycle_linear_three_phase_adam": [
        (0.95, 0.95), (0.9166666666666666, 0.9166666666666666), (0.8833333333333333, 0.8833333333333333),
        (0.85, 0.85), (0.8833333333333333, 0.8833333333333333), (0.9166666666666666, 0.9166666666666666),
        (0.95, 0.95), (0.95, 0.95), (0.95, 0.95), (0.95, 0.95), (0.95, 0.95), (0.95, 0.95), (0.95, 0.95),
        (0.95, 0.95), (0.95, 0.95), (0.95, 0.95)
    ],
}

L = S
TORCH_SETUPS = {
    "onecycle_cos": (lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=20), 20, {}),
    "onecycle_linear_three_phase_adam": (
        lambda o: L.OneCycleLR(o, max_lr=[0.2, 0.8], total_steps=16, pct_start=0.25, anneal_strategy="linear",
                               three_phase=True, div_factor=10.0, final_div_factor=100.0),
        16, dict(opt_cls=Adam, opt_kw=dict(lr=0.01), groups=True)),
    "cosine_past_tmax": (lambda o: L.CosineAnnealingLR(o, T_max=5, eta_min=0.01), 16, {}),
    "warmup_cosine": (lambda o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=4),
                                                   L.CosineAnnealingLR(o, T_max=6, eta_min=0.001)],
                                               milestones=[4]), 14, {}),
}


@pytest.mark.parametrize("case", sorted(TORCH_SETUPS))
def test_matches_pytorch(case):
    make, steps, kw = TORCH_SETUPS[case]
    got, mom = record(make, steps, **kw)
    close(got, TORCH_LR[case])
    if case in TORCH_MOMENTUM:
        close(mom, TORCH_MOMENTUM[case])


def test_chained_matches_pytorch():
    opt = SGD([xg.zeros(1, requires_grad=True)], lr=1.0)
    s1 = S.ExponentialLR(opt, gamma=0.9)
    s2 = S.MultiStepLR(opt, milestones=[2, 4, 4], gamma=0.5)
    got = []
    for _ in range(7):
        got.append(opt.param_groups[0]["lr"])
        opt.step()
        s1.step()
        s2.step()
    close(got, TORCH_LR["chained_exp_multistep"])


# ---------------------------------------------------------------------------
# state dicts
# ---------------------------------------------------------------------------

MAKERS = {
    "step": lambda o: S.StepLR(o, step_size=2, gamma=0.5),
    "multistep": lambda o: S.MultiStepLR(o, milestones=[2, 3, 7]),
    "exponential": lambda o: S.ExponentialLR(o, gamma=0.8),
    "linear": lambda o: S.LinearLR(o, start_factor=0.2, total_iters=6),
    "cosine": lambda o: S.CosineAnnealingLR(o, T_max=4, eta_min=0.01),
    "onecycle": lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=12, three_phase=True),
    "plateau": lambda o: S.ReduceLROnPlateau(o, patience=0, factor=0.5),
    "sequential": lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.5, total_iters=3),
                                               S.StepLR(o, step_size=2)], milestones=[3]),
}
METRIC = [5.0, 4.0, 4.5, 4.6, 3.0, 3.5, 3.4, 3.6, 2.0, 2.5, 2.2]


def _drive(opt, sched, epochs, t0):
    out = []
    for t in range(t0, t0 + epochs):
        opt.step()
        sched.step(METRIC[t]) if isinstance(sched, S.ReduceLROnPlateau) else sched.step()
        out.append((sched.get_last_lr()[0], opt.param_groups[0].get("momentum")))
    return out


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_resume_from_state_dicts_gives_identical_lrs(name):
    opt = SGD([xg.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    sched = MAKERS[name](opt)
    _drive(opt, sched, 5, 0)
    # plain values only: a JSON round trip keeps them
    saved = json.loads(json.dumps({"opt": opt.state_dict(), "sched": sched.state_dict()}))
    rest = _drive(opt, sched, 6, 5)
    opt2 = SGD([xg.zeros(1, requires_grad=True)], lr=0.7)
    sched2 = MAKERS[name](opt2)
    opt2.load_state_dict(saved["opt"])
    sched2.load_state_dict(saved["sched"])
    assert _drive(opt2, sched2, 6, 5) == rest


def test_state_dict_is_a_copy():
    opt = SGD([xg.zeros(1, requires_grad=True)], lr=0.1)
    s = S.MultiStepLR(opt, milestones=[2])
    sd = s.state_dict()
    sd["milestones"].append(1)
    assert s.milestones == [2]


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

def _opt(cls=SGD, **kw):
    return cls([xg.zeros(1, requires_grad=True)], **({"lr": 0.1} | kw))


BAD = [
    (lambda: S.StepLR(_opt(), step_size=0), "step_size"),
    (lambda: S.StepLR(object(), step_size=1), "Optimizer"),
    (lambda: S.LinearLR(_opt(), start_factor=0.0), "start_factor"),
    (lambda: S.LinearLR(_opt(), end_factor=1.5), "end_factor"),
    (lambda: S.CosineAnnealingLR(_opt(), T_max=0), "T_max"),
    (lambda: S.ExponentialLR(_opt(), gamma=-1.0), "gamma"),
    (lambda: S.MultiStepLR(_opt(), milestones=[1.5]), "milestone"),
    (lambda: S.OneCycleLR(_opt(momentum=0.9), max_lr=1.0), "total_steps"),
    (lambda: S.OneCycleLR(_opt(momentum=0.9), max_lr=1.0, total_steps=10, pct_start=1.5), "pct_start"),
    (lambda: S.OneCycleLR(_opt(momentum=0.9), max_lr=1.0, total_steps=10, anneal_strategy="exp"), "anneal"),
    (lambda: S.OneCycleLR(_opt(momentum=0.9), max_lr=[1.0, 2.0], total_steps=10), "max_lr has 2"),
    (lambda: S.OneCycleLR(_opt(Adagrad), max_lr=1.0, total_steps=10), "cycle_momentum"),
    (lambda: S.ReduceLROnPlateau(_opt(), mode="lowest"), "mode"),
    (lambda: S.ReduceLROnPlateau(_opt(), factor=1.0), "factor"),
    (lambda: S.ReduceLROnPlateau(_opt(), threshold_mode="pct"), "threshold_mode"),
    (lambda: S.ReduceLROnPlateau(_opt(), min_lr=[0.0, 0.1]), "min_lr has 2"),
    (lambda: S.StepLR(_opt(), step_size=2, last_epoch=3), "initial_lr"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_arguments_are_refused(i):
    make, word = BAD[i]
    with pytest.raises(xg.OpError, match=word):
        make()


def test_sequential_errors():
    opt, other = _opt(), _opt()
    a, b = S.StepLR(opt, 2), S.StepLR(opt, 3)
    with pytest.raises(xg.OpError, match="2 schedulers need 1 milestone"):
        S.SequentialLR(opt, [a, b], milestones=[])
    with pytest.raises(xg.OpError, match="another optimizer"):
        S.SequentialLR(opt, [a, S.StepLR(other, 2)], milestones=[3])
    with pytest.raises(xg.OpError, match="ReduceLROnPlateau"):
        S.SequentialLR(opt, [a, S.ReduceLROnPlateau(opt)], milestones=[3])
    with pytest.raises(xg.OpError, match="at least one"):
        S.SequentialLR(opt, [], milestones=[])


def test_loading_another_schedulers_state_is_refused():
    opt = _opt()
    step = S.StepLR(opt, 2)
    cos = S.CosineAnnealingLR(opt, T_max=3)
    before = cos.state_dict()
    with pytest.raises(xg.OpError, match=r"missing keys \['T_max', 'eta_min'\].*unexpected keys"):
        cos.load_state_dict(step.state_dict())
    assert cos.state_dict() == before


def test_a_group_added_after_the_scheduler_is_reported():
    opt = _opt()
    s = S.ExponentialLR(opt, gamma=0.5)
    opt.add_param_group({"params": [xg.zeros(1, requires_grad=True)]})
    with pytest.raises(xg.OpError, match="after add_param_group"):
        s.step()
