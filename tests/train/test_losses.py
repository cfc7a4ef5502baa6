"""Tests of the pairwise loss registry (ALGORITHMS.md section 1), against independent numpy/scipy references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from rewardlab.train.losses import (
    LOSSES,
    BTLoss,
    DavidsonLoss,
    GaussianLoss,
    RaoKupperLoss,
    anchor_labels,
    anchor_nll,
    get_loss,
)

F64 = torch.float64

# a fixed small batch: row 2 has Delta = 0, rows 1 and 3 are ties for the tie models
RC = np.array([1.2, -0.3, 0.5, 2.0, -4.0])
RR = np.array([0.2, 0.4, 0.5, -1.0, 3.0])
MARGIN = np.array([1.0, 0.0, 2.0, 0.5, 3.0])
LABEL = np.array([0.8, 0.3, 0.5, 1.0, 0.1])
TIE = np.array([False, True, False, True, False])


def _outs(rc: np.ndarray, rr: np.ndarray, vc: np.ndarray | None = None, vr: np.ndarray | None = None,
          requires_grad: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Model-output dicts in float64."""
    out_chosen = {"mean": torch.tensor(rc, dtype=F64, requires_grad=requires_grad)}
    out_rejected = {"mean": torch.tensor(rr, dtype=F64, requires_grad=requires_grad)}
    if vc is not None and vr is not None:
        out_chosen["var"] = torch.tensor(vc, dtype=F64)
        out_rejected["var"] = torch.tensor(vr, dtype=F64)
    return out_chosen, out_rejected


def _batch(**cols: np.ndarray) -> dict[str, torch.Tensor]:
    """Batch dict of tensors."""
    return {k: torch.tensor(v) for k, v in cols.items()}


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """Plain numpy log sigma(x) (reference, independent of torch)."""
    return -np.logaddexp(0.0, -x)


# ---------------------------------------------------------------- registry and API


def test_registry_names_and_get_loss() -> None:
    assert set(LOSSES) == {"bt", "margin", "soft", "rao_kupper", "davidson", "gaussian"}
    assert isinstance(get_loss("bt"), BTLoss)
    assert isinstance(get_loss("rao_kupper", a_init=1.0), RaoKupperLoss)
    assert get_loss("bt", center_eta=0.01).center_eta == 0.01
    with pytest.raises(KeyError, match="registered"):
        get_loss("nope")
    with pytest.raises(TypeError):
        get_loss("bt", anchor_lambda=0.1)  # anchors need a variance: gaussian only


def test_missing_columns_are_errors() -> None:
    out_chosen, out_rejected = _outs(RC, RR)
    with pytest.raises(KeyError, match="margin"):
        get_loss("margin")(out_chosen, out_rejected, {})
    with pytest.raises(KeyError, match="label"):
        get_loss("soft")(out_chosen, out_rejected, {})
    with pytest.raises(KeyError, match="var"):
        get_loss("gaussian")(out_chosen, out_rejected, {})
    ocv, orv = _outs(RC, RR, np.ones(5), np.ones(5))
    anchors = {"anchor_chosen": torch.zeros(5, 2), "anchor_rejected": torch.zeros(5, 2)}
    with pytest.raises(ValueError, match="anchor_thresholds"):
        get_loss("gaussian")(ocv, orv, anchors)
    get_loss("gaussian", anchor_lambda=0.0)(ocv, orv, anchors)  # explicitly off: anchors ignored
    with pytest.raises(KeyError, match="anchor_chosen"):
        get_loss("gaussian", anchor_thresholds=(-1.0, 1.0))(ocv, orv, {})
    with pytest.raises(ValueError, match="tau_1 < tau_2"):
        GaussianLoss(anchor_thresholds=(1.0, 1.0))


def test_tie_parameters_are_learnable() -> None:
    out_chosen, out_rejected = _outs(RC, RR)
    for name, pname in [("rao_kupper", "raw_a"), ("davidson", "log_nu")]:
        loss_fn = get_loss(name)
        params = dict(loss_fn.named_parameters())
        assert set(params) == {pname}
        loss, stats = loss_fn(out_chosen, out_rejected, _batch(tie=TIE))
        loss.backward()
        assert params[pname].grad is not None and params[pname].grad.abs() > 0
        assert all(isinstance(v, float) for v in stats.values())
        fixed = get_loss(name, learn_tie=False)
        assert list(fixed.parameters()) == []


# ---------------------------------------------------------------- hand-computed values


def test_bt_margin_soft_values() -> None:
    out_chosen, out_rejected = _outs(RC, RR)
    d = RC - RR
    loss, stats = get_loss("bt")(out_chosen, out_rejected, {})
    assert loss.item() == pytest.approx(np.mean(np.log1p(np.exp(-d))), rel=1e-12)
    assert stats["accuracy"] == pytest.approx((1 + 0 + 0.5 + 1 + 0) / 5)
    assert stats["reward_gap"] == pytest.approx(d.mean())
    assert stats["mean_reward"] == pytest.approx(((RC + RR) / 2).mean())

    loss, _ = get_loss("margin")(out_chosen, out_rejected, _batch(margin=MARGIN))
    assert loss.item() == pytest.approx(np.mean(np.log1p(np.exp(-(d - MARGIN)))), rel=1e-12)

    loss, _ = get_loss("soft")(out_chosen, out_rejected, _batch(label=LABEL))
    ref = -(LABEL * np.log(1 / (1 + np.exp(-d))) + (1 - LABEL) * np.log(1 / (1 + np.exp(d))))
    assert loss.item() == pytest.approx(ref.mean(), rel=1e-12)


def test_centering_regulariser_value() -> None:
    out_chosen, out_rejected = _outs(RC, RR)
    d = RC - RR
    loss, stats = get_loss("bt", center_eta=0.01)(out_chosen, out_rejected, {})
    ref = np.mean(np.log1p(np.exp(-d))) + 0.01 * np.mean((RC + RR) ** 2)
    assert loss.item() == pytest.approx(ref, rel=1e-12)
    assert stats["loss_center"] == pytest.approx(np.mean((RC + RR) ** 2))


def test_rao_kupper_value() -> None:
    loss_fn = RaoKupperLoss(a_init=0.7).double()
    a = loss_fn.tie_a().item()  # 0.7 as stored (the parameter is initialised in float32)
    assert a == pytest.approx(0.7, rel=1e-6)
    out_chosen, out_rejected = _outs(RC, RR)
    loss, stats = loss_fn(out_chosen, out_rejected, _batch(tie=TIE))
    d = RC - RR

    def sig(x: float) -> float:
        return 1 / (1 + math.exp(-x))

    per = [-math.log(1 - sig(di - a) - sig(-di - a)) if t else -math.log(sig(di - a))
           for di, t in zip(d, TIE, strict=True)]
    assert loss.item() == pytest.approx(np.mean(per), rel=1e-12)
    assert stats["tie_a"] == pytest.approx(a, rel=1e-15)
    assert stats["tie_rate"] == pytest.approx(0.4)
    assert stats["accuracy"] == pytest.approx((1 + 0.5 + 0) / 3)  # non-tied rows only


def test_davidson_value() -> None:
    loss_fn = DavidsonLoss(nu_init=0.8).double()
    nu = loss_fn.tie_nu().item()  # 0.8 as stored (float32 initialisation)
    assert nu == pytest.approx(0.8, rel=1e-6)
    out_chosen, out_rejected = _outs(RC, RR)
    loss, stats = loss_fn(out_chosen, out_rejected, _batch(tie=TIE))
    per = []
    for rc, rr, t in zip(RC, RR, TIE, strict=True):
        z = math.exp(rc) + math.exp(rr) + nu * math.exp((rc + rr) / 2)
        per.append(-math.log(nu * math.exp((rc + rr) / 2) / z) if t else -math.log(math.exp(rc) / z))
    assert loss.item() == pytest.approx(np.mean(per), rel=1e-12)
    assert stats["tie_nu"] == pytest.approx(nu, rel=1e-15)


def test_gaussian_value_with_clamp_and_labels() -> None:
    mu_c = np.array([1.0, 0.2, 10.0, -0.5])
    mu_r = np.array([0.0, 0.7, 0.0, 0.5])
    var_c = np.array([1.0, 0.25, 0.5, 2.0])
    var_r = np.array([0.5, 0.25, 0.5, 0.1])
    y = np.array([1.0, 0.3, 0.9, 0.0])
    z = np.clip((mu_c - mu_r) / np.sqrt(var_c + var_r), -6, 6)
    assert z[2] == 6.0  # row 2 is clamped (raw z = 10)
    out_chosen, out_rejected = _outs(mu_c, mu_r, var_c, var_r)
    loss, stats = get_loss("gaussian")(out_chosen, out_rejected, _batch(label=y))
    ref = -(y * norm.logcdf(z) + (1 - y) * norm.logcdf(-z))
    assert loss.item() == pytest.approx(ref.mean(), rel=1e-12)
    loss, _ = get_loss("gaussian")(out_chosen, out_rejected, {})  # no label column: y = 1
    assert loss.item() == pytest.approx(-norm.logcdf(z).mean(), rel=1e-12)
    assert stats["mean_std"] == pytest.approx(np.sqrt(np.r_[var_c, var_r]).mean())


def test_anchor_nll_value_and_clamp() -> None:
    tau = (-0.4, 0.9)
    mu = np.array([0.0, 1.5, -2.0, 0.3, 5.0, 0.3])
    s = np.array([1.0, 0.5, 2.0, 0.8, 0.5, 0.8])
    a = np.array([[1, 0], [1, 1], [0, 0], [1, 0], [0, 0], [0.6, 0.25]])  # row 4: pi_0 ~ 1e-33 -> clamped
    p1, p2 = norm.cdf((mu - tau[0]) / s), norm.cdf((mu - tau[1]) / s)
    pis = np.clip(np.stack([1 - p1, p1 - p2, p2], 1), 1e-7, 1 - 1e-7)
    ref = -((1 - a[:, 0]) * np.log(pis[:, 0]) + (a[:, 0] - a[:, 1]) * np.log(pis[:, 1])
            + a[:, 1] * np.log(pis[:, 2]))
    got = anchor_nll(torch.tensor(mu), torch.tensor(s), torch.tensor(a), tau)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10)
    assert got[4].item() == pytest.approx(-math.log(1e-7))
    # fractional anchors are exactly the mean over draws (the loss is linear in A)
    frac = anchor_nll(torch.tensor(mu[[5]]), torch.tensor(s[[5]]), torch.tensor([[0.6, 0.25]], dtype=F64), tau)
    draws = torch.tensor([[1, 1]] * 5 + [[1, 0]] * 7 + [[0, 0]] * 8, dtype=F64)
    each = anchor_nll(torch.full((20,), mu[5], dtype=F64), torch.full((20,), s[5], dtype=F64), draws, tau)
    assert frac.item() == pytest.approx(each.mean().item(), rel=1e-12)


def test_gaussian_anchor_total_value() -> None:
    tau = (-0.5, 0.5)
    mu_c, mu_r = np.array([0.4, -1.0, 2.0]), np.array([0.1, 0.3, -0.2])
    var_c, var_r = np.array([0.3, 1.0, 2.0]), np.array([0.6, 0.2, 1.5])
    a_c = np.array([[1, 0], [0, 0], [1, 1]])
    a_r = np.array([[1, 1], [1, 0], [0, 0]])

    def ref_anchor(mu: np.ndarray, var: np.ndarray, a: np.ndarray) -> np.ndarray:
        s = np.sqrt(var)
        p1, p2 = norm.cdf((mu - tau[0]) / s), norm.cdf((mu - tau[1]) / s)
        cls = a.sum(1)  # 0, 1 or 2 thresholds passed
        return -np.log(np.stack([1 - p1, p1 - p2, p2], 1)[np.arange(len(mu)), cls])

    z = (mu_c - mu_r) / np.sqrt(var_c + var_r)
    ref = -norm.logcdf(z).mean() + 0.1 * (ref_anchor(mu_c, var_c, a_c) + ref_anchor(mu_r, var_r, a_r)).mean()
    out_chosen, out_rejected = _outs(mu_c, mu_r, var_c, var_r)
    loss, stats = get_loss("gaussian", anchor_thresholds=tau)(out_chosen, out_rejected, _batch(anchor_chosen=a_c,
                                                                             anchor_rejected=a_r))
    assert loss.item() == pytest.approx(ref, rel=1e-10)
    assert "loss_anchor" in stats


def test_anchor_labels() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=1001)
    a, tau = anchor_labels(scores)
    assert tau == pytest.approx(tuple(np.percentile(scores, [25, 75])))
    np.testing.assert_array_equal(a.numpy(), np.stack([scores >= tau[0], scores >= tau[1]], 1))
    assert a[:, 0].mean().item() == pytest.approx(0.75, abs=1e-3)
    assert a[:, 1].mean().item() == pytest.approx(0.25, abs=1e-3)
    a2, tau2 = anchor_labels(torch.tensor([0.0, 1.0, 2.0, 3.0]), thresholds=(1.0, 2.5))
    assert tau2 == (1.0, 2.5)
    np.testing.assert_array_equal(a2.numpy(), [[0, 0], [1, 0], [1, 0], [1, 1]])
    with pytest.raises(ValueError):
        anchor_labels(np.ones(10))  # degenerate: tau_1 == tau_2


# ---------------------------------------------------------------- reductions and invariances


def test_tie_models_with_zero_tie_parameter_are_bt_exactly() -> None:
    rng = np.random.default_rng(1)
    rc, rr = rng.normal(scale=3, size=64), rng.normal(scale=3, size=64)
    for dtype in (torch.float32, F64):
        out_chosen = {"mean": torch.tensor(rc, dtype=dtype)}
        out_rejected = {"mean": torch.tensor(rr, dtype=dtype)}
        bt = BTLoss().pair_nll(out_chosen, out_rejected, {})
        rk = RaoKupperLoss(a_init=0.0).pair_nll(out_chosen, out_rejected, {})
        dv = DavidsonLoss(nu_init=0.0).pair_nll(out_chosen, out_rejected, {"tie": torch.zeros(64, dtype=torch.bool)})
        assert torch.equal(rk, bt)
        assert torch.equal(dv, bt)


def test_gaussian_scale_invariance_exact() -> None:
    rng = np.random.default_rng(2)
    mu_c, mu_r = rng.normal(size=256), rng.normal(size=256)
    s_c, s_r = rng.uniform(0.1, 2, 256), rng.uniform(0.1, 2, 256)
    y = rng.uniform(size=256)
    loss_fn = get_loss("gaussian", anchor_lambda=0.0)
    base = loss_fn(*_outs(mu_c, mu_r, s_c**2, s_r**2), _batch(label=y))[0]
    for c in (2.0, 0.5, 8.0):  # powers of two: bit-for-bit equal
        scaled = loss_fn(*_outs(c * mu_c, c * mu_r, (c * s_c) ** 2, (c * s_r) ** 2), _batch(label=y))[0]
        assert torch.equal(scaled, base), c
    for c, b in ((3.7, 0.0), (0.31, -1.3), (1.0, 5.0)):  # general affine maps: to float64 rounding
        aff = loss_fn(*_outs(c * mu_c + b, c * mu_r + b, (c * s_c) ** 2, (c * s_r) ** 2), _batch(label=y))[0]
        assert aff.item() == pytest.approx(base.item(), rel=1e-13), (c, b)


@settings(max_examples=60, deadline=None)
@given(d=st.floats(-60, 60), a=st.floats(0.0, 8.0), nu=st.floats(0.0, 50.0))
def test_tie_model_probabilities_sum_to_one(d: float, a: float, nu: float) -> None:
    delta = torch.tensor([d, -d], dtype=F64)
    for model in (RaoKupperLoss(a_init=a).double(), DavidsonLoss(nu_init=nu).double()):
        w, t, lo = model.outcome_log_probs(delta)
        total = (w.exp() + t.exp() + lo.exp()).detach().numpy()
        np.testing.assert_allclose(total, 1.0, rtol=1e-12)
        assert torch.allclose(w[0], lo[1]) and torch.allclose(t[0], t[1])  # swapping sides swaps outcomes


def test_extreme_rewards_are_finite_float32() -> None:
    rc = np.array([200.0, -200.0, 0.0, 50.0])
    rr = np.array([-200.0, 200.0, 0.0, -50.0])
    batch = {**_batch(margin=np.ones(4), label=np.full(4, 0.5)), "tie": torch.tensor([0, 1, 1, 0]).bool()}
    for name in LOSSES:
        out_chosen = {"mean": torch.tensor(rc, dtype=torch.float32, requires_grad=True),
              "var": torch.full((4,), 1e-6, requires_grad=True)}
        out_rejected = {"mean": torch.tensor(rr, dtype=torch.float32, requires_grad=True),
               "var": torch.full((4,), 1e-6, requires_grad=True)}
        loss, _ = get_loss(name)(out_chosen, out_rejected, batch)
        loss.backward()
        assert torch.isfinite(loss), name
        grads = [t.grad for t in (*out_chosen.values(), *out_rejected.values()) if t.grad is not None]
        assert len(grads) == (4 if name == "gaussian" else 2)
        assert all(torch.isfinite(g).all() for g in grads), name


# ---------------------------------------------------------------- parameter recovery

STRENGTHS = np.array([0.0, 0.6, -0.4, 1.2, -0.9])  # item 0 pinned to 0 (BT strengths are shift-invariant)


def _sample(model: str, tie_param: float, n: int, seed: int) -> dict[str, np.ndarray]:
    """Draw n comparisons of random item pairs from a known BT / Rao-Kupper / Davidson model (numpy)."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, 5, n)
    j = (i + rng.integers(1, 5, n)) % 5
    d = STRENGTHS[i] - STRENGTHS[j]
    if model == "bt":
        p_i, p_tie = 1 / (1 + np.exp(-d)), np.zeros(n)
    elif model == "rao_kupper":
        p_i = 1 / (1 + np.exp(-(d - tie_param)))
        p_tie = 1 - p_i - 1 / (1 + np.exp(d + tie_param))
    else:
        ei, ej = np.exp(STRENGTHS[i]), np.exp(STRENGTHS[j])
        t = tie_param * np.sqrt(ei * ej)
        p_i, p_tie = ei / (ei + ej + t), t / (ei + ej + t)
    u = rng.uniform(size=n)
    tie = (u >= p_i) & (u < p_i + p_tie)
    i_won = u < p_i
    chosen = np.where(i_won | tie, i, j)
    rejected = np.where(i_won | tie, j, i)
    return {"chosen": chosen, "rejected": rejected, "tie": tie}


def _fit_strengths(name: str, data: dict[str, np.ndarray]) -> tuple[np.ndarray, float, np.ndarray]:
    """MLE of (strengths 1..4, tie parameter) with LBFGS; returns estimates, tie estimate and standard errors."""
    loss_fn = get_loss(name, learn_tie=True).double() if name != "bt" else get_loss("bt")
    n = len(data["tie"])
    ic, ir = torch.tensor(data["chosen"]), torch.tensor(data["rejected"])
    batch = {"tie": torch.tensor(data["tie"])}
    free = torch.zeros(4, dtype=F64, requires_grad=True)
    params = [free, *loss_fn.parameters()]
    opt = torch.optim.LBFGS(params, max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        r = torch.cat([torch.zeros(1, dtype=F64), free])
        loss, _ = loss_fn({"mean": r[ic]}, {"mean": r[ir]}, batch)
        loss.backward()
        return loss

    opt.step(closure)
    pnames = [k for k, _ in loss_fn.named_parameters()]

    def total_nll(theta: torch.Tensor) -> torch.Tensor:
        r = torch.cat([torch.zeros(1, dtype=F64), theta[:4]])
        overrides = {k: theta[4 + m] for m, k in enumerate(pnames)}
        loss, _ = torch.func.functional_call(loss_fn, overrides, ({"mean": r[ic]}, {"mean": r[ir]}, batch))
        return n * loss

    theta = torch.cat([p.detach().reshape(-1) for p in params])
    cov = torch.linalg.inv(torch.autograd.functional.hessian(total_nll, theta))
    se = cov.diagonal().sqrt().numpy()
    est = theta.numpy().copy()
    tie_hat = math.nan
    if name == "rao_kupper":  # a = softplus(raw): delta method d a / d raw = sigmoid(raw)
        tie_hat = float(torch.nn.functional.softplus(theta[4]))
        se[4] *= float(torch.sigmoid(theta[4]))
    elif name == "davidson":  # nu = exp(log_nu)
        tie_hat = math.exp(est[4])
        se[4] *= tie_hat
    return est[:4], tie_hat, se


@pytest.mark.parametrize("name,tie_true", [("bt", 0.0), ("rao_kupper", 0.7), ("davidson", 0.8)])
def test_recovers_known_parameters(name: str, tie_true: float) -> None:
    data = _sample(name, tie_true, n=20000, seed=7)
    est, tie_hat, se = _fit_strengths(name, data)
    err = np.abs(est - STRENGTHS[1:]) / se[:4]
    assert se[:4].max() < 0.05, se  # enough data for the check to mean something
    assert err.max() < 4, f"{name}: strengths {est} vs {STRENGTHS[1:]}, errors in SE units {err}"
    if name != "bt":
        assert se[4] < 0.05
        assert abs(tie_hat - tie_true) < 4 * se[4], f"{name}: tie {tie_hat:.4f} vs {tie_true} (SE {se[4]:.4f})"


def test_centering_fixes_the_offset() -> None:
    data = _sample("bt", 0.0, n=5000, seed=3)
    ic, ir = torch.tensor(data["chosen"]), torch.tensor(data["rejected"])

    def fit(eta: float) -> tuple[np.ndarray, float]:
        theta = torch.zeros(5, dtype=F64, requires_grad=True)
        offset = torch.tensor(3.0, dtype=F64, requires_grad=True)  # free offset, not identified by BT alone
        loss_fn = get_loss("bt", center_eta=eta)
        opt = torch.optim.LBFGS([theta, offset], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                                line_search_fn="strong_wolfe")
        stats: dict[str, float] = {}

        def closure() -> torch.Tensor:
            opt.zero_grad()
            r = theta + offset
            loss, s = loss_fn({"mean": r[ic]}, {"mean": r[ir]}, {})
            stats.update(s)
            loss.backward()
            return loss

        opt.step(closure)
        closure()
        return (theta + offset).detach().numpy(), stats["mean_reward"]

    r0, mean0 = fit(0.0)
    r1, mean1 = fit(0.01)
    assert r0.mean() == pytest.approx(3.0, abs=1e-6)  # without centering the offset stays where it started
    assert abs(mean0 - 3.0) < 0.05
    assert abs(mean1) < 1e-6  # with centering the mean fitted reward (over the pairs) is 0
    assert abs(r1.mean()) < 0.05  # and so, with near-uniform pairs, is the per-item mean
    # the penalty is on each pair's sum, not only on the global mean, so it also shrinks the differences a
    # little (about 7% here with eta = 0.01) without changing the ranking
    d0, d1 = r0 - r0.mean(), r1 - r1.mean()
    np.testing.assert_array_equal(np.argsort(d1), np.argsort(d0))
    shrink = float(d1 @ d0 / (d0 @ d0))
    assert 0.85 < shrink < 1.0, shrink


def test_disentangle_penalty_by_hand() -> None:
    """The disentangled head's regularisers on fixed tensors, computed by hand with numpy."""
    from rewardlab.train.losses import DisentangleSpec, disentangle_penalty

    q_c, q_r = torch.tensor([1.0, 0.5, -0.2]), torch.tensor([0.3, 0.9, 0.1])
    l_c, l_r = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.0, 1.5, -0.5])
    len_c, len_r = torch.tensor([40.0, 10.0, 25.0]), torch.tensor([12.0, 30.0, 20.0])
    w = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]])
    spec = DisentangleSpec(quality_corr=0.7, length_corr=0.4, orthogonal=0.3, within_pair=True, measure="corr")
    pen, stats = disentangle_penalty({"mean": q_c, "length_reward": l_c}, {"mean": q_r, "length_reward": l_r},
                                     len_c, len_r, w, spec)
    q, lr, ln = (np.r_[a.numpy(), b.numpy()] for a, b in ((q_c, q_r), (l_c, l_r), (len_c, len_r)))
    rho_q, rho_l = np.corrcoef(q, ln)[0, 1], np.corrcoef(lr, ln)[0, 1]
    rho_pair = np.corrcoef((q_c - q_r).numpy(), (len_c - len_r).numpy())[0, 1]
    cos = float(w[0] @ w[1] / (w[0].norm() * w[1].norm()))
    want = 0.7 * abs(rho_q) - 0.4 * rho_l + 0.3 * abs(cos) + 0.7 * abs(rho_pair)
    assert float(pen) == pytest.approx(want, abs=1e-4)
    assert stats["rho_quality_length"] == pytest.approx(rho_q, abs=1e-4)
    assert stats["rho_length_head"] == pytest.approx(rho_l, abs=1e-4)
    assert stats["rho_quality_length_pair"] == pytest.approx(rho_pair, abs=1e-4)
    assert stats["head_cosine"] == pytest.approx(cos, abs=1e-5)
    # ODIN's own form: no within-pair term
    pen2, stats2 = disentangle_penalty({"mean": q_c, "length_reward": l_c}, {"mean": q_r, "length_reward": l_r},
                                       len_c, len_r, w, DisentangleSpec(0.7, 0.4, 0.3, within_pair=False,
                                                                        measure="corr"))
    assert float(pen2) == pytest.approx(want - 0.7 * abs(rho_pair), abs=1e-4)
    assert "rho_quality_length_pair" not in stats2
    # constant lengths: the correlation terms are 0, not NaN
    pen3, _ = disentangle_penalty({"mean": q_c, "length_reward": l_c}, {"mean": q_r, "length_reward": l_r},
                                  torch.full((3,), 7.0), torch.full((3,), 7.0), w, spec)
    assert float(pen3) == pytest.approx(0.3 * abs(cos), abs=1e-5)


def test_pair_loss_of_a_disentangled_head_is_bt_on_q_plus_l_plus_the_penalty() -> None:
    """pair_loss: BT on q + l (the training reward) plus the regularisers; accuracy is the reward q's."""
    from types import SimpleNamespace

    from rewardlab.train.losses import DisentangleSpec, disentangle_penalty, pair_loss

    head = torch.nn.Linear(3, 2)
    rm = SimpleNamespace(hf=SimpleNamespace(score=head),
                         member_outputs=lambda out: [{"mean": out["mean"] + out["length_reward"]}])
    oc = {"mean": torch.tensor([1.0, -0.5, 0.2, 0.4]), "length_reward": torch.tensor([0.1, 0.3, -0.2, 0.0])}
    orr = {"mean": torch.tensor([0.2, 0.1, 0.4, -0.3]), "length_reward": torch.tensor([0.5, -0.1, 0.0, 0.2])}
    batch = {"len_chosen": torch.tensor([10.0, 30.0, 22.0, 5.0]), "len_rejected": torch.tensor([12.0, 8.0, 40.0, 9.0])}
    spec = DisentangleSpec(0.5, 0.5, 0.5)
    loss, stats = pair_loss(rm, get_loss("bt"), oc, orr, batch, disentangle=spec)
    d = (oc["mean"] + oc["length_reward"]) - (orr["mean"] + orr["length_reward"])
    bt = float(np.mean(np.log1p(np.exp(-d.numpy()))))
    pen, _ = disentangle_penalty(oc, orr, batch["len_chosen"], batch["len_rejected"], head.weight, spec)
    assert float(loss.detach()) == pytest.approx(bt + float(pen.detach()), abs=1e-5)
    assert stats["accuracy"] == pytest.approx(float(((oc["mean"] - orr["mean"]) > 0).float().mean()))
    with pytest.raises(KeyError, match="len_chosen"):
        pair_loss(rm, get_loss("bt"), oc, orr, {}, disentangle=spec)


def test_slope_measure_by_hand() -> None:
    """measure="slope": cov(x, L / sd(L)) in place of the correlation in the quality terms, by hand."""
    from rewardlab.train.losses import DisentangleSpec, batch_slope, disentangle_penalty

    x, y = torch.tensor([1.0, 3.0, 2.0, 5.0]), torch.tensor([10.0, 20.0, 15.0, 40.0])
    xn, yn = x.numpy(), y.numpy()
    assert float(batch_slope(x, y)) == pytest.approx(np.mean((xn - xn.mean()) * (yn - yn.mean()) / yn.std()), abs=1e-5)
    assert float(batch_slope(2 * x, y)) == pytest.approx(2 * float(batch_slope(x, y)), abs=1e-5)  # scales with x
    assert float(batch_slope(x, torch.full((4,), 3.0))) == 0.0
    q_c, q_r = torch.tensor([1.0, 0.5, -0.2]), torch.tensor([0.3, 0.9, 0.1])
    l_c, l_r = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.0, 1.5, -0.5])
    len_c, len_r = torch.tensor([40.0, 10.0, 25.0]), torch.tensor([12.0, 30.0, 20.0])
    w = torch.tensor([[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]])
    pen, _ = disentangle_penalty({"mean": q_c, "length_reward": l_c}, {"mean": q_r, "length_reward": l_r},
                                 len_c, len_r, w, DisentangleSpec(0.7, 0.4, 0.3, True, measure="slope"))
    q, lr, ln = (np.r_[a.numpy(), b.numpy()] for a, b in ((q_c, q_r), (l_c, l_r), (len_c, len_r)))
    dq, dl = (q_c - q_r).numpy(), (len_c - len_r).numpy()
    slope_q = np.mean((q - q.mean()) * (ln - ln.mean()) / ln.std())
    slope_pair = np.mean((dq - dq.mean()) * (dl - dl.mean()) / dl.std())
    cos = float(w[0] @ w[1] / (w[0].norm() * w[1].norm()))
    want = 0.7 * abs(slope_q) - 0.4 * np.corrcoef(lr, ln)[0, 1] + 0.3 * abs(cos) + 0.7 * abs(slope_pair)
    assert float(pen) == pytest.approx(want, abs=1e-4)
    with pytest.raises(ValueError, match="measure"):
        DisentangleSpec(measure="spearman")
